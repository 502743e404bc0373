"""The dashboard's figures: outcome counts for the Conakry day and the campaign, the
per-hour and per-day charts, the outbox and the silent gateway, on a known dataset;
settled days counted once per process. The page is tested in tests/console/test_dashboard.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from roko_app.extensions import db
from roko_app.reads.dashboard import DAILY_CHART_MAX_DAYS, Bucket, DayCounts, dashboard_stats
from tests.factories import DASHBOARD_LAST_SMS, DASHBOARD_NOW, add_dashboard_sample, add_entry, add_outbound
from tests.helpers import classify_all, text_in

CONAKRY = ZoneInfo("Africa/Conakry")
NOW = DASHBOARD_NOW
LAST_SMS = DASHBOARD_LAST_SMS


@pytest.fixture
def known(app: Any) -> Any:
    with app.app_context():
        add_dashboard_sample()
        db.session.commit()
    return app


def test_counts_by_outcome_for_the_conakry_day_and_the_campaign(known: Any) -> None:
    with known.app_context():
        stats = dashboard_stats(now=NOW, tz=CONAKRY)
    assert stats.today_start == datetime(2026, 6, 10, tzinfo=UTC)
    assert stats.today == {"VALID_AGAIN": 2, "VALID_FIRST": 1, "INVALID_CODE": 1, "BAD_FORMAT": 1}
    assert stats.campaign == {"VALID_FIRST": 5, "VALID_AGAIN": 2, "INVALID_CODE": 1, "BAD_FORMAT": 1, "OPT_OUT": 1}
    assert (stats.today_total, stats.campaign_total, stats.participants) == (5, 10, 5)
    assert (stats.outbox_queued, stats.outbox_sending, stats.outbox_failed, stats.outbox_depth) == (2, 1, 3, 3)
    assert stats.last_inbound_at == LAST_SMS and not stats.silent


def test_valid_entries_per_hour_over_the_last_24_hours(known: Any) -> None:
    with known.app_context():
        stats = dashboard_stats(now=NOW, tz=CONAKRY)
    hours = stats.hourly_valid
    assert len(hours) == 24
    assert hours[0].start == datetime(2026, 6, 9, 9, 0, tzinfo=UTC)  # 09:00 yesterday ...
    assert hours[-1].start == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)  # ... to the current hour
    counts = {bucket.start.hour if bucket.start.day == 10 else -bucket.start.hour: bucket.count for bucket in hours}
    assert counts[8] == 2 and counts[0] == 1 and counts[-23] == 1
    assert counts[-9] == 1  # 09:00 yesterday is in, 08:59 is out
    assert sum(bucket.count for bucket in hours) == 5


def test_valid_entries_per_day_since_the_campaign_start(known: Any) -> None:
    with known.app_context():
        stats = dashboard_stats(now=NOW, tz=CONAKRY, campaign_start=datetime(2026, 6, 6, tzinfo=UTC))
        by_day = [(bucket.start.date().isoformat(), bucket.count) for bucket in stats.daily_valid]
        assert by_day == [("2026-06-06", 0), ("2026-06-07", 1), ("2026-06-08", 0), ("2026-06-09", 3),
                          ("2026-06-10", 3)]
        # without a configured start: from the first valid entry
        stats = dashboard_stats(now=NOW, tz=CONAKRY)
        assert stats.daily_valid[0].start == datetime(2026, 6, 7, tzinfo=UTC) and len(stats.daily_valid) == 4
        # a long campaign: only the latest days
        stats = dashboard_stats(now=NOW, tz=CONAKRY, campaign_start=datetime(2025, 1, 1, tzinfo=UTC))
        assert len(stats.daily_valid) == DAILY_CHART_MAX_DAYS
        assert stats.daily_valid[-1] == Bucket(datetime(2026, 6, 10, tzinfo=UTC), 3)


def test_the_day_follows_the_time_zone(known: Any) -> None:
    """Days and hours are the zone's: in UTC+3 'today' started at 21:00 UTC."""
    with known.app_context():
        stats = dashboard_stats(now=NOW, tz=ZoneInfo("Africa/Nairobi"))
    assert stats.today_start == datetime(2026, 6, 9, 21, tzinfo=UTC)
    assert stats.today == {"VALID_FIRST": 2, "VALID_AGAIN": 2, "INVALID_CODE": 1, "BAD_FORMAT": 1}
    assert stats.daily_valid[-1] == Bucket(datetime(2026, 6, 9, 21, tzinfo=UTC), 4)
    assert stats.hourly_valid[-1] == Bucket(datetime(2026, 6, 10, 8, tzinfo=UTC), 2)


@pytest.mark.parametrize(("minutes", "silent"), [(29, False), (30, False), (31, True)])
def test_silent_after_thirty_minutes_without_an_sms(known: Any, minutes: int, silent: bool) -> None:
    with known.app_context():
        assert dashboard_stats(now=LAST_SMS + timedelta(minutes=minutes), tz=CONAKRY).silent is silent


def test_nothing_yet(app: Any) -> None:
    with app.app_context():
        stats = dashboard_stats(now=NOW, tz=CONAKRY)
    assert (stats.today, stats.campaign, stats.participants, stats.outbox_depth) == ({}, {}, 0, 0)
    assert stats.last_inbound_at is None and stats.silent  # no SMS ever: the gateway may not be wired yet
    assert len(stats.hourly_valid) == 24 and sum(bucket.count for bucket in stats.hourly_valid) == 0
    assert stats.daily_valid == [Bucket(datetime(2026, 6, 10, tzinfo=UTC), 0)]


def test_settled_days_are_counted_once_per_process(known: Any) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM entry" in statement:
            statements.append(statement)

    cache = DayCounts()
    with known.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            first = dashboard_stats(now=NOW, tz=CONAKRY, cache=cache)
            cold = len(statements)
            statements.clear()
            again = dashboard_stats(now=NOW, tz=CONAKRY, cache=cache)
            warm = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert again == first == dashboard_stats(now=NOW, tz=CONAKRY)  # same figures as uncached
        assert sorted(cache.days) == [datetime(2026, 6, d).date() for d in (7, 8, 9)]
        assert warm < cold  # the settled days were not read again
        # Just after midnight, the day that ended is still read live (late commits).
        just_after = dashboard_stats(now=datetime(2026, 6, 11, 0, 3, tzinfo=UTC), tz=CONAKRY, cache=cache)
        assert datetime(2026, 6, 10).date() not in cache.days
        assert just_after.campaign == first.campaign and just_after.today == {}
        dashboard_stats(now=datetime(2026, 6, 11, 0, 6, tzinfo=UTC), tz=CONAKRY, cache=cache)
        assert cache.days[datetime(2026, 6, 10).date()] == first.today


def test_a_day_with_sms_still_to_classify_is_not_settled(app: Any) -> None:
    """An entry is dated when its SMS arrived: an SMS of the 10th classified after the
    10th was cached (a backlog, a parked SMS put back) would be missing for the life of
    the process. So a day stays live until every SMS it received is classified."""
    late_evening = datetime(2026, 6, 10, 23, 0, tzinfo=UTC)
    next_morning = datetime(2026, 6, 11, 1, 0, tzinfo=UTC)  # well past midnight + the margin
    with app.app_context():
        add_entry("655000000", "VALID_FIRST", datetime(2026, 6, 9, 12, 0, tzinfo=UTC), code="U00000007")
        db.session.commit()
    with freeze_time(late_evening):
        text_in(app, "bonjour", classify=False)
    cache = DayCounts()
    with app.app_context():
        before = dashboard_stats(now=next_morning, tz=CONAKRY, cache=cache)
    assert before.campaign == {"VALID_FIRST": 1} and datetime(2026, 6, 10).date() not in cache.days
    with freeze_time(next_morning):
        classify_all(app)
    with app.app_context():
        after = dashboard_stats(now=next_morning, tz=CONAKRY, cache=cache)
    assert after.campaign == {"VALID_FIRST": 1, "BAD_FORMAT": 1}
    assert cache.days[datetime(2026, 6, 10).date()] == {"BAD_FORMAT": 1}  # settled now, and right


def test_delivery_of_the_last_24_hours(app: Any) -> None:
    with app.app_context():
        for status, hours_ago in [("DELIVERED", 1), ("DELIVERED", 23), ("DELIVERED", 25), ("UNDELIVERED", 2),
                                  ("EXPIRED", 2), ("UNREPORTED", 3), ("UNCERTAIN", 3), ("SENT", 1), ("QUEUED", 1)]:
            add_outbound("612345678", "Merci", NOW - timedelta(hours=hours_ago), status=status)
        db.session.commit()
        stats = dashboard_stats(now=NOW, tz=CONAKRY)
    # 25 hours ago is out of the window; QUEUED was not handed to the gateway.
    assert stats.delivery_24h == {"delivered": 2, "undelivered": 2, "unknown": 2, "pending": 1}
