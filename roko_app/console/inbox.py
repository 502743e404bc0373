"""The inbox page: SMS the worker could not classify (parked), each with a button to try again."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_limit
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.reads.inbox import parked_page, waiting_count
from roko_app.services import accounts, classify
from roko_app.services.errors import NotFound


@bp.get("/inbox")
@role_required(Role.VIEWER)
def inbox() -> Any:
    invalid: list[str] = []
    limit = parse_limit(request.args, invalid)
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    page = parked_page(before=before, after=after, limit=limit)
    return render_template("console/inbox.html", page=page, urls=page_urls("console.inbox", page),
                           waiting=waiting_count())


@bp.post("/inbox/<int:sms_id>/retry")
@role_required(Role.OPERATOR)
def inbox_retry(sms_id: int) -> Any:
    try:
        classify.retry_parked(sms_id)
    except NotFound:
        abort(404)
    except classify.NotParked:
        flash(_("This SMS is not waiting for a decision any more."), "info")
        return redirect(url_for("console.inbox"))
    accounts.audit(current_user.email, "sms.classify_retry", target=str(sms_id), address=request.remote_addr)
    db.session.commit()
    flash(_("SMS %(id)s goes back to the worker; its entry and reply follow in a moment.", id=sms_id), "success")
    return redirect(url_for("console.inbox"))
