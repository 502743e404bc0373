"""The one keyset pager of every console list: newest first by ``(timestamp, id)``.

A page is "the ``limit`` rows just older (or newer) than the cursor row", never an
``OFFSET``: an index on ``(timestamp, id)`` answers it by reading ``limit`` entries
however deep the page, and the ``id`` tie-break keeps rows with equal timestamps from
being skipped or repeated between pages. Query plans: ``bench/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from roko_app.extensions import db

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?[0-9]{1,18})_([0-9]{1,18})", re.ASCII)

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a newest-first list: the ``(timestamp, id)`` of one row.

    Encoded for URLs as ``<microseconds since 1970>_<id>``.
    """

    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - _EPOCH) // timedelta(microseconds=1)}_{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """The cursor, or None for a missing or mangled one."""
        match = _CURSOR.fullmatch(raw or "")
        if match is None:
            return None
        try:
            return cls(_EPOCH + timedelta(microseconds=int(match[1])), int(match[2]))
        except OverflowError:
            return None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    older: str | None  # cursor of the next page towards older rows, if there are any
    newer: str | None  # cursor of the page of newer rows, unless this is the first page
    first: bool  # this is the first (newest) page

    def with_rows(self, rows: list[U]) -> Page[U]:
        """The same page (same links) holding ``rows``, e.g. the rows turned into view rows."""
        return Page(rows, self.older, self.newer, self.first)


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, limit))


# The keyset conditions are written ``ts <= :ts AND (ts < :ts OR id < :id)`` rather
# than as a row-value comparison: SQLite and PostgreSQL both use this form as an index
# range.

def older_than(at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], cursor: Cursor) -> Any:
    """Rows after ``cursor`` in newest-first order."""
    return and_(at <= cursor.at, or_(at < cursor.at, id_ < cursor.id))


def newer_than(at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], cursor: Cursor) -> Any:
    """Rows before ``cursor`` in newest-first order."""
    return and_(at >= cursor.at, or_(at > cursor.at, id_ > cursor.id))


def keyset_page(statement: Select[Any], at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], *,
                before: Cursor | None = None, after: Cursor | None = None, limit: int | None = None) -> Page[Any]:
    """One page of ``statement``'s rows, newest first by ``(at, id_)``.

    ``before``: the rows just older than that cursor; ``after``: the rows just newer
    (when fewer than a page are newer, the first page). ``statement`` selects either one
    entity (the rows are its objects) or columns that include ``at`` and ``id_`` under
    their attribute names (the rows are result rows).
    """
    limit = clamp_limit(limit)
    run = db.session.scalars if _selects_one_entity(statement) else db.session.execute

    def key(row: Any) -> str:
        return Cursor(getattr(row, at.key), getattr(row, id_.key)).encode()

    if after is not None:
        rows = list(run(statement.where(newer_than(at, id_, after)).order_by(at.asc(), id_.asc()).limit(limit + 1)))
        if len(rows) > limit:
            rows = rows[:limit]
            rows.reverse()
            return Page(rows, key(rows[-1]), key(rows[0]), False)
        before = None  # fewer than a page is newer than the cursor: show the first page
    if before is not None:
        statement = statement.where(older_than(at, id_, before))
    rows = list(run(statement.order_by(at.desc(), id_.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    older = key(rows[-1]) if more else None
    newer = key(rows[0]) if before is not None and rows else None
    return Page(rows, older, newer, before is None)


def _selects_one_entity(statement: Select[Any]) -> bool:
    described = statement.column_descriptions
    return len(described) == 1 and described[0]["expr"] is described[0]["entity"]


__all__: Sequence[str] = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Cursor", "Page", "clamp_limit", "keyset_page",
                          "newer_than", "older_than"]
