"""A farmer's page: every SMS in and out as one conversation with a box to send one,
entries, opt-out and block."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.confirm import confirm_page
from roko_app.console.forms import FarmerMessageForm
from roko_app.console.labels import moment
from roko_app.console.sms_counter import SMS_RULES, measure
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Priority
from roko_app.models.accounts import Role
from roko_app.reads import farmers
from roko_app.reads.values import is_guinea_mobile, msisdn_key
from roko_app.services import accounts, outbound, participants
from roko_app.services.errors import NotFound
from roko_app.sms.msisdn import InvalidMsisdn


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
    return _farmer_page(found, FarmerMessageForm())


@bp.post("/farmers/<msisdn>/send")
@role_required(Role.OPERATOR)
def farmer_send(msisdn: str) -> Any:
    """The message box of the farmer's page: one SMS to this number, through the outbox
    as compose sends it (one SMS at most, refused to a number that sent STOP)."""
    key = msisdn_key(msisdn)
    found = farmers.farmer(key) if key else None
    if found is None:
        abort(404)
    form = FarmerMessageForm()  # its CSRF token is checked for every console form, before the view
    try:
        message = outbound.queue_message(phone_number=key, text=form.text.data or "", caller=current_user.email[:64],
                                         port=current_app.config["TOPAZ_SEND_PORT"], priority=Priority.API)
    except InvalidMsisdn:
        return _farmer_page(found, form, _("Nothing was sent: %(msisdn)s is not a Guinea mobile number.", msisdn=key),
                            400)
    except outbound.OptedOut:
        return _farmer_page(found, form, _("Nothing was sent: %(msisdn)s asked to receive no more messages (it sent "
                                           "STOP). It only gets the answers to its own SMS until it sends START.",
                                           msisdn=key), 409)
    except outbound.EmptyText:
        return _farmer_page(found, form, _("The message is empty."), 400)
    except outbound.TextDoesNotFit as exc:
        return _farmer_page(found, form, _("The message does not fit one SMS: %(units)d characters in %(encoding)s, "
                                           "at most %(limit)d.", units=exc.info.units, encoding=exc.info.encoding,
                                           limit=exc.info.limit), 400)
    accounts.audit(current_user.email, "sms.send", key, {"count": 1, "encoding": message.encoding,
                                                          "units": message.units, "first_id": message.id,
                                                          "last_id": message.id}, request.remote_addr)
    db.session.commit()
    flash(_("Message queued for %(msisdn)s; it goes out within a minute.", msisdn=key), "info")
    return redirect(url_for("console.farmer", msisdn=key, _anchor=f"out-{message.id}"))


def _farmer_page(found: farmers.Farmer, form: FarmerMessageForm, error: str | None = None, status: int = 200) -> Any:
    return render_template("console/farmer.html", farmer=found, now=utcnow(), form=form, send_error=error,
                           can_send=is_guinea_mobile(found.msisdn),
                           info=measure(form.text.data or ""), sms_rules=SMS_RULES,
                           limit=farmers.CONVERSATION_LIMIT, entries_limit=farmers.FARMER_ENTRIES_LIMIT), status


@bp.get("/farmers/<msisdn>/unblock")
@role_required(Role.OPERATOR)
def farmer_unblock_confirm(msisdn: str) -> Any:
    key = msisdn_key(msisdn)
    found = farmers.farmer(key)
    if found is None or found.participant is None:
        abort(404)
    if found.blocked(utcnow()):
        consequences = [_("%(msisdn)s is blocked until %(time)s after too many wrong codes.", msisdn=key,
                          time=moment(found.participant.blocked_until)),
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
