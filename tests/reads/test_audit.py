"""The audit log's read model: newest first by (at, id), in keyset pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.reads.audit import audit_page
from roko_app.reads.pager import Cursor
from tests.factories import T0, add_audit_event


@pytest.fixture
def events(app: Any) -> list[int]:
    """7 events, 3 of them at the same instant (the id decides); their ids newest first."""
    with app.app_context():
        rows = [add_audit_event(T0 + timedelta(seconds=min(i, 4)), target=f"t{i}") for i in range(7)]
        db.session.commit()
        return [event.id for event in sorted(rows, key=lambda e: (e.at, e.id), reverse=True)]


def test_first_page(app: Any, events: list[int]) -> None:
    with app.app_context():
        page = audit_page(limit=3)
        assert [e.id for e in page.rows] == events[:3]
        assert page.first and page.newer is None and page.older is not None


def test_next_pages_up_to_the_last(app: Any, events: list[int]) -> None:
    with app.app_context():
        second = audit_page(before=Cursor.decode(audit_page(limit=3).older), limit=3)
        assert [e.id for e in second.rows] == events[3:6]
        assert not second.first and second.newer is not None and second.older is not None
        last = audit_page(before=Cursor.decode(second.older), limit=3)
        assert [e.id for e in last.rows] == events[6:]
        assert last.older is None and last.newer is not None
        back = audit_page(after=Cursor.decode(last.newer), limit=3)
        assert [e.id for e in back.rows] == events[3:6] and back.older == second.older


def test_a_last_page_that_is_exactly_full_has_no_older_link(app: Any, events: list[int]) -> None:
    with app.app_context():
        first = audit_page(limit=4)
        last = audit_page(before=Cursor.decode(first.older), limit=3)
        assert [e.id for e in last.rows] == events[4:] and last.older is None
        assert audit_page(limit=7).older is None and [e.id for e in audit_page(limit=7).rows] == events


def test_empty(app: Any) -> None:
    with app.app_context():
        page = audit_page()
        assert (page.rows, page.older, page.newer, page.first) == ([], None, None, True)
