"""A farmer's page: every SMS in and out as one conversation, entries, opt-out and block."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.confirm import confirm_page
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.reads import farmers
from roko_app.reads.values import msisdn_key
from roko_app.services import accounts, participants
from roko_app.services.errors import NotFound


@bp.get("/farmers/<msisdn>")
@role_required(Role.VIEWER)
def farmer(msisdn: str) -> Any:
    key = msisdn_key(msisdn)
    if not key:
        abort(404)
    if key != msisdn:  # one address per farmer: +224 612 34 56 78 -> 612345678
        return redirect(url_for("console.farmer", msisdn=key))
    found = farmers.farmer(key)
    if found is None:
        abort(404)
    return render_template("console/farmer.html", farmer=found, now=utcnow(),
                           limit=farmers.CONVERSATION_LIMIT, entries_limit=farmers.FARMER_ENTRIES_LIMIT)


@bp.get("/farmers/<msisdn>/unblock")
@role_required(Role.OPERATOR)
def farmer_unblock_confirm(msisdn: str) -> Any:
    key = msisdn_key(msisdn)
    found = farmers.farmer(key)
    if found is None or found.participant is None:
        abort(404)
    if found.blocked(utcnow()):
        consequences = [_("%(msisdn)s is blocked until %(time)s after too many wrong codes.", msisdn=key,
                          time=format_datetime(found.participant.blocked_until, "yyyy-MM-dd HH:mm")),
                        _("Unblocking lets it send codes again now; the wrong codes it sent before no longer count "
                          "towards a new block.")]
    else:
        consequences = [_("The number %(msisdn)s was not blocked.", msisdn=key)]
    return confirm_page(title=_("Unblock %(msisdn)s?", msisdn=key), consequences=consequences,
                        action=url_for("console.farmer_unblock", msisdn=key), button=_("Unblock"),
                        back=url_for("console.farmer", msisdn=key))


@bp.post("/farmers/<msisdn>/unblock")
@role_required(Role.OPERATOR)
def farmer_unblock(msisdn: str) -> Any:
    key = msisdn_key(msisdn)
    try:
        was_blocked = participants.unblock(key)
    except NotFound:
        abort(404)
    if was_blocked:
        accounts.audit(current_user.email, "participant.unblock", target=key, address=request.remote_addr)
        flash(_("The number %(msisdn)s is no longer blocked.", msisdn=key), "success")
    else:
        flash(_("The number %(msisdn)s was not blocked.", msisdn=key), "info")
    db.session.commit()
    return redirect(url_for("console.farmer", msisdn=key))
