"""The entry search read model: keyset pages over equal timestamps, the date bound a
cursor makes redundant, and index-ordered plans. The page and its CSV export are
tested in tests/console/test_entries.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from roko_app.extensions import db
from roko_app.models import Entry
from roko_app.reads.entries import EntryFilters, search_entries
from roko_app.reads.pager import Cursor, older_than
from tests.factories import T0, add_entries_at_equal_times, add_entry


@pytest.fixture
def many(app: Any) -> list[int]:
    with app.app_context():
        ids = add_entries_at_equal_times()
        db.session.commit()
        return ids


def test_pages_with_equal_timestamps(app: Any, many: list[int]) -> None:
    with app.app_context():
        seen: list[int] = []
        before = None
        while True:
            page = search_entries(EntryFilters(), before=before, limit=4)
            seen += [row.id for row in page.rows]
            if page.older is None:
                break
            before = Cursor.decode(page.older)
        assert seen == many
        # after=<cursor of the 6th row>: the 4 rows just newer, still newest first.
        sixth = search_entries(EntryFilters(), limit=13).rows[5]
        newer = search_entries(EntryFilters(), after=Cursor(sixth.created_at, sixth.id), limit=4)
        assert [row.id for row in newer.rows] == many[1:5] and not newer.first
        # fewer than a page is newer: the first page instead
        first = search_entries(EntryFilters(), after=Cursor(sixth.created_at, sixth.id), limit=5)
        assert [row.id for row in first.rows] == many[:5] and first.first and first.newer is None


def test_rows_carry_their_sms_text(app: Any) -> None:
    with app.app_context():
        entry = add_entry("612345678", "INVALID_CODE", T0, code="U99999999", text="ROKO U99999999 svp")
        db.session.commit()
        (row,) = search_entries(EntryFilters()).rows
        assert (row.id, row.msisdn, row.outcome, row.code, row.text) == (
            entry.id, "612345678", "INVALID_CODE", "U99999999", "ROKO U99999999 svp")


def test_an_empty_search_is_one_first_page_without_links(app: Any) -> None:
    with app.app_context():
        page = search_entries(EntryFilters(outcome="VALID_FIRST"))
        assert (page.rows, page.older, page.newer, page.first) == ([], None, None, True)


@pytest.mark.parametrize(("before", "after", "dropped"), [
    (datetime(2026, 6, 10, 23, 59, tzinfo=UTC), None, "date_to"),  # the cursor is inside the range: "to" is redundant
    (datetime(2026, 6, 11, 0, 0, tzinfo=UTC), None, None),  # the cursor is past the range: "to" still bounds
    (None, datetime(2026, 6, 9, 0, 0, tzinfo=UTC), "date_from"),
    (None, datetime(2026, 6, 8, 23, 59, tzinfo=UTC), None),
])
def test_narrowed_drops_the_date_bound_the_cursor_makes_redundant(before: datetime | None, after: datetime | None,
                                                                    dropped: str | None) -> None:
    filters = EntryFilters(outcome="VALID_FIRST", date_from=date(2026, 6, 9), date_to=date(2026, 6, 10))
    narrowed = filters.narrowed(before and Cursor(before, 1), after and Cursor(after, 1))
    kept = {"date_from": narrowed.date_from, "date_to": narrowed.date_to}
    assert kept == {name: None if name == dropped else getattr(filters, name) for name in kept}
    assert narrowed.outcome == "VALID_FIRST"


def test_describe_gives_the_filters_in_their_stored_form() -> None:
    filters = EntryFilters(outcome="VALID_FIRST", date_from=date(2026, 6, 9), phone="+224 612 34 56 78",
                           code="u 0000 0003")
    assert filters.describe() == {"outcome": "VALID_FIRST", "from": "2026-06-09", "phone": "612345678",
                                  "code": "U00000003"}


# --------------------------------------------------------------------------- the plans use the indexes


def plan(statement: Any) -> str:
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    if db.engine.dialect.name == "sqlite":
        return " | ".join(str(row[-1]) for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))  # empty tables: ask whether an index *can* serve
    db.session.execute(text("SET LOCAL enable_sort = off"))
    return " | ".join(row[0] for row in db.session.execute(text(f"EXPLAIN {compiled}")))


@pytest.mark.parametrize(("filters", "index"), [
    ({}, "ix_entry_created"),
    ({"outcome": "VALID_FIRST"}, "ix_entry_outcome_created"),
    ({"phone": "612345678"}, "ix_entry_msisdn_created"),
])
def test_entry_pages_are_read_from_an_index_in_order(app: Any, filters: dict[str, str], index: str) -> None:
    with app.app_context():
        conditions = EntryFilters(**filters).conditions()  # type: ignore[arg-type]
        keyset = older_than(Entry.created_at, Entry.id, Cursor(T0, 10**6))
        for extra in ([], [keyset]):  # first page, deep page
            statement = (select(Entry.id).where(*conditions, *extra)
                         .order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51))
            found = plan(statement)
            assert index in found, found
            assert "TEMP B-TREE" not in found and "Sort" not in found, found
        db.session.rollback()
