"""The keyset pager's cursor, page size and page links (the pages themselves are tested
through each list's read model)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from roko_app.reads.pager import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursor, Page, clamp_limit


def test_cursor_round_trip_keeps_microseconds() -> None:
    cursor = Cursor(datetime(2026, 6, 10, 12, 0, 0, 999_999, tzinfo=UTC), 42)
    assert Cursor.decode(cursor.encode()) == cursor


def test_cursor_before_1970_round_trips() -> None:
    cursor = Cursor(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), 7)
    assert cursor.encode().startswith("-") and Cursor.decode(cursor.encode()) == cursor


@pytest.mark.parametrize("raw", [None, "", "garbage", "12_x", "_", "12_", "_12", "1_2_3", " 1_2",
                                 "99999999999999999999_1", "1_99999999999999999999", "999999999999999999_1"])
def test_a_missing_or_mangled_cursor_decodes_to_none(raw: str | None) -> None:
    assert Cursor.decode(raw) is None


@pytest.mark.parametrize(("asked", "given"), [
    (None, DEFAULT_PAGE_SIZE), (0, 1), (-5, 1), (1, 1), (50, 50), (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
    (MAX_PAGE_SIZE + 1, MAX_PAGE_SIZE), (10**9, MAX_PAGE_SIZE),
])
def test_clamp_limit(asked: int | None, given: int) -> None:
    assert clamp_limit(asked) == given


def test_with_rows_keeps_the_links() -> None:
    page = Page([1, 2], older="o", newer="n", first=False)
    assert page.with_rows(["a", "b"]) == Page(["a", "b"], "o", "n", False)
