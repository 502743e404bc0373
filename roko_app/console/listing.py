"""What the console's paged lists share: the page size and cursors of the query string,
invalid values ignored with a warning, and the links to the other pages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask import flash, request, url_for
from flask_babel import gettext as _

from roko_app.console.labels import FILTER_LABELS
from roko_app.reads.pager import Cursor, Page, clamp_limit


def parse_limit(args: Mapping[str, str], invalid: list[str]) -> int | None:
    """The ``limit`` asked for (capped), or None for the default; a malformed one is
    added to ``invalid``."""
    raw = (args.get("limit") or "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit():
        invalid.append("limit")
        return None
    return clamp_limit(int(raw))


#: The days a filter may name.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def parse_days(args: Mapping[str, str], invalid: list[str]) -> dict[str, date | None]:
    """The ``from`` and ``to`` days of the query string (ISO dates); a malformed one, or
    one outside the years 1900 to 9998 (the day after 9999-12-31 or the UTC start of
    0001-01-01 in a time zone east of Greenwich does not exist), is None and added to
    ``invalid``."""
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            day = None
            invalid.append(name)
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            day = None
            invalid.append(name)
        days[name] = day
    return days


def parse_cursors(args: Mapping[str, str]) -> tuple[Cursor | None, Cursor | None]:
    """The ``before`` and ``after`` cursors of the query string (a mangled one is ignored)."""
    return Cursor.decode(args.get("before")), Cursor.decode(args.get("after"))


def flash_invalid(invalid: list[str]) -> None:
    if invalid:
        names = ", ".join(str(FILTER_LABELS.get(name, name)) for name in invalid)
        flash(_("Ignored an invalid value in: %(fields)s", fields=names), "warning")


def page_urls(endpoint: str, page: Page[Any], **values: Any) -> dict[str, str | None]:
    """Links to the older, newer and first pages, keeping the query's other arguments."""
    args = {key: value for key, value in request.args.items() if key not in ("before", "after") and value}
    args.update(values)
    return {
        "older": url_for(endpoint, **args, before=page.older) if page.older else None,
        "newer": url_for(endpoint, **args, after=page.newer) if page.newer else None,
        "first": None if page.first else url_for(endpoint, **args),
    }
