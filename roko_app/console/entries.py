"""Entries: the newest first, filtered, paginated by keyset; and their CSV export."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.console.labels import OUTCOME_LABELS
from roko_app.console.listing import flash_invalid, page_urls, parse_cursors, parse_days, parse_limit
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Outcome
from roko_app.models.accounts import Role
from roko_app.reads.entries import (
    RAW_CSV,
    CsvLayout,
    EntryFilters,
    count_entries,
    day_first,
    iter_entries_csv,
    search_entries,
)
from roko_app.reads.values import msisdn_key
from roko_app.services import accounts


def campaign_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def parse_entry_filters(args: Mapping[str, str]) -> tuple[EntryFilters, list[str]]:
    """The filters of the query string, and the names of the ones ignored as invalid."""
    invalid: list[str] = []
    outcome = (args.get("outcome") or "").strip() or None
    if outcome is not None and outcome not in Outcome.__members__:
        invalid.append("outcome")
        outcome = None
    days = parse_days(args, invalid)
    filters = EntryFilters(outcome=outcome, date_from=days["from"], date_to=days["to"],
                           phone=(args.get("phone") or "").strip() or None,
                           code=(args.get("code") or "").strip() or None, tz=campaign_tz(),
                           text=(args.get("text") or "").strip()[:160] or None)
    return filters, invalid


@bp.get("/entries")
@role_required(Role.VIEWER)
def entries() -> Any:
    filters, invalid = parse_entry_filters(request.args)
    limit = parse_limit(request.args, invalid)
    flash_invalid(invalid)
    before, after = parse_cursors(request.args)
    page = search_entries(filters, before=before, after=after, limit=limit)
    export_args = {key: value for key, value in request.args.items()
                   if key in ("outcome", "from", "to", "phone", "code", "text") and value}
    farmer = msisdn_key(filters.phone) if filters.phone and not filters.phone_part else None
    return render_template("console/entries.html", page=page, urls=page_urls("console.entries", page),
                           args=request.args, outcomes=OUTCOME_LABELS, farmer=farmer, total=count_entries(filters),
                           csv_url=url_for("console.entries_csv", **export_args),
                           raw_csv_url=url_for("console.entries_csv", format="raw", **export_args))


def spreadsheet_layout() -> CsvLayout:
    """The export as a French spreadsheet opens it: ``;``, headers and outcomes in words,
    day-first times."""
    header = (_("Entry no."), _("Date and time (Conakry, UTC)"), _("Phone number"), _("Outcome"), _("Code"),
              _("Chances"), _("SMS no."), _("SMS text"))
    outcomes = {outcome.value: str(label) for outcome, label in OUTCOME_LABELS.items()}
    return CsvLayout(header=header, delimiter=";", outcome=lambda key: outcomes.get(key, key), time=day_first)


@bp.get("/entries.csv")
@role_required(Role.VIEWER)
def entries_csv() -> Any:
    """The entries as a French spreadsheet reads them; ``?format=raw`` for the machine form."""
    filters, _invalid = parse_entry_filters(request.args)
    accounts.audit(current_user.email, "entries.export", details=filters.describe() or None,
                   address=request.remote_addr)
    db.session.commit()
    name = f"roko-entries-{utcnow():%Y%m%d-%H%M%S}.csv"
    layout = RAW_CSV if request.args.get("format") == "raw" else spreadsheet_layout()
    response = Response(stream_with_context(iter_entries_csv(filters, layout=layout)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
