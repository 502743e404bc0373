"""The campaigns read model: batches newest first by (received_at, id) in keyset pages,
each with its messages' statuses and progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.reads.campaigns import batch_summaries, batch_summary
from roko_app.reads.pager import Cursor
from roko_app.services.errors import NotFound
from tests.factories import T0, add_batch, add_outbound


@pytest.fixture
def batches(app: Any) -> list[int]:
    """5 batches, 3 received at the same instant (the id decides); their ids newest first."""
    with app.app_context():
        rows = [add_batch(T0 + timedelta(minutes=min(i, 2))) for i in range(5)]
        db.session.commit()
        return [batch.id for batch in sorted(rows, key=lambda b: (b.received_at, b.id), reverse=True)]


def test_first_page(app: Any, batches: list[int]) -> None:
    with app.app_context():
        page = batch_summaries(limit=2)
        assert [s.batch.id for s in page.rows] == batches[:2]
        assert page.first and page.newer is None and page.older is not None


def test_next_pages_up_to_the_last(app: Any, batches: list[int]) -> None:
    with app.app_context():
        second = batch_summaries(before=Cursor.decode(batch_summaries(limit=2).older), limit=2)
        assert [s.batch.id for s in second.rows] == batches[2:4] and not second.first and second.older
        last = batch_summaries(before=Cursor.decode(second.older), limit=2)
        assert [s.batch.id for s in last.rows] == batches[4:] and last.older is None and last.newer
        back = batch_summaries(after=Cursor.decode(last.newer), limit=2)
        assert [s.batch.id for s in back.rows] == batches[2:4]


def test_a_last_page_that_is_exactly_full_has_no_older_link(app: Any, batches: list[int]) -> None:
    with app.app_context():
        first = batch_summaries(limit=3)
        last = batch_summaries(before=Cursor.decode(first.older), limit=2)
        assert [s.batch.id for s in last.rows] == batches[3:] and last.older is None


def test_empty(app: Any) -> None:
    with app.app_context():
        page = batch_summaries()
        assert (page.rows, page.older, page.newer, page.first) == ([], None, None, True)


def test_summaries_count_their_messages_by_status(app: Any) -> None:
    with app.app_context():
        batch = add_batch(T0, accepted=4, rejected=1)
        other = add_batch(T0 + timedelta(minutes=1))
        for status in ("SENT", "SENT", "FAILED", "QUEUED"):
            message = add_outbound("612345678", "Promo", T0, status=status)
            message.campaign_batch_id = batch.id
        db.session.commit()
        by_id = {s.batch.id: s for s in batch_summaries().rows}
        summary = by_id[batch.id]
        assert summary.counts == {"SENT": 2, "FAILED": 1, "QUEUED": 1}
        assert (summary.total, summary.done, summary.progress, summary.cancellable) == (5, 3, 75, True)
        assert by_id[other.id].counts == {} and by_id[other.id].progress == 100
        assert batch_summary(batch.id) == summary
        with pytest.raises(NotFound):
            batch_summary(other.id + 1000)
