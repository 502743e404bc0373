"""Campaigns: the Optimove batches, their progress, recipients and rejections; an
operator can cancel a batch whose messages have not all gone out yet."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.confirm import confirm_page
from roko_app.console.labels import GROUP_LABELS
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_limit
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models.accounts import Role
from roko_app.reads.campaigns import (
    Eta,
    batch_eta,
    batch_messages,
    batch_rejections,
    batch_summaries,
    batch_summary,
    batch_texts,
)
from roko_app.services import accounts, campaigns
from roko_app.services.errors import NotFound
from roko_app.web.validation import row_id

PAGE = 50


@bp.get("/campaigns")
@role_required(Role.VIEWER)
def campaigns_list() -> Any:
    invalid: list[str] = []
    limit = parse_limit(request.args, invalid)
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    page = batch_summaries(before=before, after=after, limit=limit)
    return render_template("console/campaigns.html", page=page, urls=page_urls("console.campaigns_list", page),
                           groups=GROUP_LABELS)


@bp.get("/campaigns/<int:batch_id>")
@role_required(Role.VIEWER)
def campaign(batch_id: int) -> Any:
    try:
        summary = batch_summary(batch_id)
    except NotFound:
        abort(404)
    after = request.args.get("after", type=row_id)
    messages = batch_messages(batch_id, limit=PAGE + 1, after_id=after)
    more = messages[PAGE - 1].id if len(messages) > PAGE else None
    eta = batch_eta(batch_id, float(current_app.config["TOPAZ_RATE_PER_PORT"]), utcnow())
    return render_template("console/campaign.html", summary=summary, messages=messages[:PAGE], more=more,
                           rejections=batch_rejections(batch_id), groups=GROUP_LABELS, texts=batch_texts(batch_id),
                           eta=eta, eta_text=eta_text(eta) if eta else None)


def eta_text(eta: Eta) -> str:
    """``environ 2 h 47 min à 1 SMS/s``: whole minutes, rounded up."""
    minutes = max(1, -(-int(eta.duration.total_seconds()) // 60))
    hours, minutes = divmod(minutes, 60)
    duration = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return _("about %(duration)s at %(rate)s SMS/s", duration=duration, rate=format_decimal(eta.rate))


@bp.get("/campaigns/<int:batch_id>/cancel")
@role_required(Role.OPERATOR)
def campaign_cancel_confirm(batch_id: int) -> Any:
    try:
        summary = batch_summary(batch_id)
    except NotFound:
        abort(404)
    queued = summary.counts.get("QUEUED", 0)
    if not queued:  # sent, cancelled or failed since the page was shown
        return _nothing_to_cancel(batch_id)
    return confirm_page(
        title=_("Cancel the unsent messages of batch %(batch)s?", batch=summary.batch.batch_id),
        consequences=[ngettext("%(num)d message of this batch is still queued: it will be cancelled and never sent.",
                               "%(num)d messages of this batch are still queued: they will be cancelled and never "
                               "sent.", queued),
                      _("Messages already handed to the gateway are not affected. This cannot be undone.")],
        action=url_for("console.campaign_cancel", batch_id=batch_id),
        button=_("Cancel the unsent messages"), back=url_for("console.campaign", batch_id=batch_id))


@bp.post("/campaigns/<int:batch_id>/cancel")
@role_required(Role.OPERATOR)
def campaign_cancel(batch_id: int) -> Any:
    try:
        cancelled = campaigns.cancel(batch_id, by=current_user.email)
    except NotFound:
        abort(404)
    if not cancelled:
        db.session.rollback()
        return _nothing_to_cancel(batch_id)
    accounts.audit(current_user.email, "campaign.cancel", target=str(batch_id), details={"cancelled": cancelled},
                   address=request.remote_addr)
    db.session.commit()
    flash(ngettext("%(num)d unsent message of the batch was cancelled.",
                   "%(num)d unsent messages of the batch were cancelled.", cancelled), "info")
    return redirect(url_for("console.campaign", batch_id=batch_id))


def _nothing_to_cancel(batch_id: int) -> Any:
    flash(_("Nothing of this batch is queued any more: there is nothing to cancel."), "info")
    return redirect(url_for("console.campaign", batch_id=batch_id))
