"""``outbound.claim_due``: which rows a claim takes, in which order, and that it reads them
from the queue index in order (no sort of every due row) however long the queue is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update

from roko_app.extensions import db
from roko_app.models import OutboundSms, OutboundStatus, Priority
from roko_app.services import outbound
from roko_app.sms.encoding import analyze
from tests.factories import bulk_queue

T0 = datetime(2026, 5, 15, 10, 0, tzinfo=UTC)


def _claim(app: Any, size: int) -> list[int]:
    with app.app_context():
        ids = [m.id for m in outbound.claim_due(size, now=T0)]
        db.session.commit()
    return ids


def _lapse(app: Any, ids: list[int], lease_expired_at: datetime) -> None:
    with app.app_context():
        db.session.execute(update(OutboundSms).where(OutboundSms.id.in_(ids))
                           .values(status=OutboundStatus.SENDING, attempts=1, lease_expires_at=lease_expired_at))
        db.session.commit()


def test_a_claim_fills_from_the_highest_priority_down_in_send_order(app: Any) -> None:
    bulk_old = bulk_queue(app, 2, priority=Priority.BULK, now=T0 - timedelta(hours=2))
    bulk_new = bulk_queue(app, 2, priority=Priority.BULK, now=T0 - timedelta(minutes=1))
    api = bulk_queue(app, 2, priority=Priority.API, now=T0 - timedelta(minutes=30))
    reply_new = bulk_queue(app, 1, priority=Priority.REPLY, now=T0)
    reply_old = bulk_queue(app, 1, priority=Priority.REPLY, now=T0 - timedelta(seconds=1))
    bulk_queue(app, 1, priority=Priority.REPLY, now=T0 + timedelta(microseconds=1))  # not due yet
    lapsed = bulk_queue(app, 1, priority=Priority.BULK, now=T0 - timedelta(minutes=3))
    _lapse(app, lapsed, T0 - timedelta(microseconds=1))
    in_flight = bulk_queue(app, 1, priority=Priority.REPLY, now=T0 - timedelta(minutes=3))
    _lapse(app, in_flight, T0)  # lease ends exactly now: still its sender's

    # Lapsed leases are taken first; the batch comes back most urgent first.
    assert _claim(app, 5) == reply_old + reply_new + api + lapsed
    assert _claim(app, 3) == bulk_old + bulk_new[:1]
    assert _claim(app, 10) == bulk_new[1:]
    assert _claim(app, 10) == []


def test_a_claim_of_one_takes_the_single_most_urgent_row(app: Any) -> None:
    bulk_queue(app, 3, priority=Priority.BULK, now=T0 - timedelta(days=1))
    (api,) = bulk_queue(app, 1, priority=Priority.API, now=T0)
    assert _claim(app, 1) == [api]


def test_unknown_priorities_are_refused_so_no_row_is_left_unclaimable() -> None:
    with pytest.raises(ValueError):
        outbound.message_values(msisdn="612345678", info=analyze("x"), port=1, priority=7, caller="t", now=T0)
    assert outbound.message_values(msisdn="612345678", info=analyze("x"), port=1, priority=Priority.REPLY,
                                   caller="t", now=T0)["priority"] == 10


def test_each_claim_of_queued_rows_reads_the_queue_index_in_order(app: Any, is_postgres: bool) -> None:
    """No sort step: a claim costs the rows it takes, not the length of the queue. The
    statements checked are the ones ``claim_due`` runs (one range per priority)."""
    claims: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "outbound_sms.priority = " in statement:
            claims.append((statement, parameters))

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            outbound.claim_due(20, now=T0)  # an empty queue: every priority is asked for
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len(claims) == len(Priority), claims
        conn = db.session.connection()
        if is_postgres:  # near-empty tables: ask whether the index *can* serve the claim in order
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
        for statement, parameters in claims:
            if is_postgres:
                plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            else:
                plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
            assert "ix_outbound_sms_queue" in plan, plan
            assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan
        db.session.rollback()
