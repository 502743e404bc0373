"""Delivery truth in the worker: SENT messages without a report become UNREPORTED after
DLR_EXPIRY_HOURS (the sweep), and the status query before giving up on a message that
may have gone out (issue 12, item 8)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from roko_app.extensions import db
from roko_app.models import OutboundSms
from roko_app.services import delivery
from roko_app.worker import Control
from tests.factories import add_outbound
from tests.helpers import outbox, run_once, worker_config

T0 = datetime(2026, 5, 15, 10, 0, tzinfo=UTC)
EXPIRY = timedelta(hours=48)


@pytest.fixture
def wapp(make_app: Any, simulator: Any) -> Any:
    return make_app(**worker_config(simulator))


@pytest.fixture
def frozen() -> Iterator[Any]:
    with freeze_time(T0) as frozen_time:
        yield frozen_time


def add_messages(app: Any, *statuses: str, sent_at: datetime = T0) -> list[int]:
    with app.app_context():
        ids = [add_outbound("612345678", "Merci", sent_at - timedelta(seconds=2), status=status).id
               for status in statuses]
        db.session.execute(update(OutboundSms).where(OutboundSms.id.in_(ids)).values(sent_at=sent_at))
        db.session.commit()
    return ids


def expire(app: Any, now: datetime, batch_size: int = 1000) -> int:
    with app.app_context():
        moved = delivery.expire_unreported(EXPIRY, now, batch_size=batch_size)
        db.session.commit()
        return moved


def statuses(app: Any) -> list[str]:
    return [message.status for message in outbox(app)]


def test_sent_without_a_report_becomes_unreported_only_after_48_hours(app: Any) -> None:
    add_messages(app, "SENT")
    assert expire(app, T0 + EXPIRY) == 0, "48 h exactly: not yet"
    assert statuses(app) == ["SENT"]
    assert expire(app, T0 + EXPIRY + timedelta(microseconds=1)) == 1
    assert statuses(app) == ["UNREPORTED"]
    assert expire(app, T0 + EXPIRY * 2) == 0, "idempotent"


def test_only_sent_messages_become_unreported(app: Any) -> None:
    kept = ["QUEUED", "SENDING", "DELIVERED", "UNDELIVERED", "EXPIRED", "FAILED", "UNCERTAIN", "CANCELLED"]
    add_messages(app, *kept, "SENT")
    assert expire(app, T0 + timedelta(days=30)) == 1
    assert statuses(app) == [*kept, "UNREPORTED"]


def test_the_sweep_goes_in_batches(app: Any) -> None:
    add_messages(app, *["SENT"] * 5)
    later = T0 + timedelta(days=3)
    assert [expire(app, later, batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    assert set(statuses(app)) == {"UNREPORTED"}


def test_the_worker_sweeps_every_dlr_sweep_seconds(make_app: Any, simulator: Any, frozen: Any) -> None:
    app = make_app(**worker_config(simulator, DLR_EXPIRY_HOURS=1, DLR_SWEEP_SECONDS=600))
    (early,) = add_messages(app, "SENT", sent_at=T0 - timedelta(hours=1, seconds=1))
    (late,) = add_messages(app, "SENT", sent_at=T0 - timedelta(minutes=59))
    control = Control()  # shared, as by the threads of one process
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "SENT"]
    frozen.tick(timedelta(minutes=5))
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "SENT"], "not swept again before DLR_SWEEP_SECONDS"
    frozen.tick(timedelta(minutes=5))
    run_once(app, control=control)
    assert statuses(app) == ["UNREPORTED", "UNREPORTED"]
    assert [early, late] == [message.id for message in outbox(app)]
