"""Messages: the inbound and outbound logs with their statuses; FAILED ones re-queued."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.labels import STATUS_LABELS
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_limit
from roko_app.extensions import db
from roko_app.models import InboundSms, OutboundSms, OutboundStatus
from roko_app.models.accounts import Role
from roko_app.reads.messages import (
    count_where,
    delivery_of,
    inbound_conditions,
    inbound_page,
    outbound_conditions,
    outbound_detail,
    outbound_page,
    replay_counts,
    replay_page,
)
from roko_app.reads.pager import Page
from roko_app.services import accounts, outbound
from roko_app.services.errors import NotFound
from roko_app.web.security import safe_next
from roko_app.web.validation import row_id


@bp.app_template_global("delivery_of")
def delivery(status: str | None) -> str | None:
    return delivery_of(status)


@bp.get("/messages")
@role_required(Role.VIEWER)
def messages() -> Any:
    args = request.args
    direction = "out" if args.get("dir") == "out" else "in"
    invalid: list[str] = []
    limit = parse_limit(args, invalid)
    status = (args.get("status") or "").strip() or None
    if status is not None and (direction != "out" or status not in OutboundStatus.__members__):
        invalid.append("status")
        status = None
    flash_invalid(invalid)
    phone = (args.get("phone") or "").strip() or None
    text = (args.get("text") or "").strip()[:160] or None
    before, after = parse_cursors(args)
    replays: dict[int, int] = {}
    if direction == "out":
        page: Page[Any] = outbound_page(status=status, phone=phone, text=text, before=before, after=after,
                                        limit=limit)
        total = count_where(OutboundSms, outbound_conditions(status, phone, text))
    else:
        page = inbound_page(phone=phone, text=text, before=before, after=after, limit=limit)
        total = count_where(InboundSms, inbound_conditions(phone, text))
        replays = replay_counts(row.id for row in page.rows)
    statuses = [(s.value, STATUS_LABELS[s]) for s in OutboundStatus]
    return render_template("console/messages.html", direction=direction, page=page, status=status, phone=phone,
                           text=text, total=total, replays=replays,
                           statuses=statuses, urls=page_urls("console.messages", page, dir=direction),
                           back=request.full_path)


@bp.get("/messages/replays")
@role_required(Role.VIEWER)
def replays() -> Any:
    """SMS the gateway sent again with a different content (the first one is kept)."""
    invalid: list[str] = []
    limit = parse_limit(request.args, invalid)
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    sms_id = request.args.get("sms", type=row_id)
    page = replay_page(sms_id=sms_id, before=before, after=after, limit=limit)
    return render_template("console/replays.html", page=page, sms_id=sms_id,
                           urls=page_urls("console.replays", page))


@bp.get("/messages/out/<int:message_id>")
@role_required(Role.VIEWER)
def message_detail(message_id: int) -> Any:
    detail = outbound_detail(message_id)
    if detail is None:
        abort(404)
    # back to the list as it was filtered (a link of the list carries it), else the outgoing list
    list_url = safe_next(request.args.get("next"), url_for("console.messages", dir="out"))
    return render_template("console/messages_detail.html", detail=detail, message=detail.message,
                           requeueable=detail.message.status in outbound.REQUEUEABLE, back=request.full_path,
                           list_url=list_url)


@bp.post("/messages/<int:message_id>/requeue")
@role_required(Role.OPERATOR)
def message_requeue(message_id: int) -> Any:
    back = safe_next(request.form.get("next"), url_for("console.messages", dir="out", status="FAILED"))
    try:
        outbound.requeue_failed(message_id)
    except NotFound:
        abort(404)
    except outbound.NotRequeueable:
        db.session.rollback()
        flash(_("Message %(id)s is not failed: only failed messages can be re-queued.", id=message_id), "error")
        return redirect(back)
    accounts.audit(current_user.email, "sms.requeue", target=str(message_id), address=request.remote_addr)
    db.session.commit()
    flash(_("Message %(id)s is queued again.", id=message_id), "success")
    return redirect(back)
