"""The dashboard: outcome counts for the Conakry day and the campaign, the per-hour and
per-day charts, the outbox and the silent-gateway warning, on a known dataset."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from roko_app.extensions import db
from roko_app.services import reports
from tests.console.test_entries import add_entry, add_outbound, add_sms

CONAKRY = ZoneInfo("Africa/Conakry")
NOW = datetime(2026, 6, 10, 8, 30, tzinfo=UTC)  # 08:30 in Conakry (UTC+0)
LAST_SMS = datetime(2026, 6, 10, 8, 29, 30, tzinfo=UTC)


@pytest.fixture
def known(console_app: Any) -> Any:
    with console_app.app_context():
        # yesterday, one microsecond before the Conakry midnight
        add_entry("612345678", "VALID_FIRST", datetime(2026, 6, 9, 23, 59, 59, 999999, tzinfo=UTC), code="U00000001")
        # today: from midnight on
        add_entry("612345678", "VALID_AGAIN", datetime(2026, 6, 10, 0, 0, tzinfo=UTC), code="U00000002")
        add_entry("622334455", "VALID_FIRST", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), code="U00000003")
        add_entry("622334455", "VALID_AGAIN", datetime(2026, 6, 10, 8, 29, tzinfo=UTC), code="U00000004")
        add_entry("622334455", "INVALID_CODE", datetime(2026, 6, 10, 8, 10, tzinfo=UTC), code="U99999999")
        add_entry("633000000", "BAD_FORMAT", datetime(2026, 6, 10, 7, 59, tzinfo=UTC))
        # earlier in the campaign: 24 h and more before the current hour
        add_entry("633000000", "VALID_FIRST", datetime(2026, 6, 9, 8, 59, tzinfo=UTC), code="U00000005")
        add_entry("644000000", "VALID_FIRST", datetime(2026, 6, 9, 9, 0, tzinfo=UTC), code="U00000006")
        add_entry("655000000", "VALID_FIRST", datetime(2026, 6, 7, 12, 0, tzinfo=UTC), code="U00000007")
        add_entry("655000000", "OPT_OUT", datetime(2026, 6, 7, 12, 5, tzinfo=UTC), text="STOP")
        for status, count in (("QUEUED", 2), ("SENDING", 1), ("FAILED", 3), ("SENT", 4)):
            for _ in range(count):
                add_outbound("612345678", "Merci", datetime(2026, 6, 10, 8, 0, tzinfo=UTC), status=status)
        add_sms("612345678", "bonjour", LAST_SMS)  # the last inbound SMS
        db.session.commit()
    return console_app


def test_counts_by_outcome_for_the_conakry_day_and_the_campaign(known: Any) -> None:
    with known.app_context():
        stats = reports.dashboard(now=NOW, tz=CONAKRY)
    assert stats.today_start == datetime(2026, 6, 10, tzinfo=UTC)
    assert stats.today == {"VALID_AGAIN": 2, "VALID_FIRST": 1, "INVALID_CODE": 1, "BAD_FORMAT": 1}
    assert stats.campaign == {"VALID_FIRST": 5, "VALID_AGAIN": 2, "INVALID_CODE": 1, "BAD_FORMAT": 1, "OPT_OUT": 1}
    assert (stats.today_total, stats.campaign_total, stats.participants) == (5, 10, 5)
    assert (stats.outbox_queued, stats.outbox_sending, stats.outbox_failed, stats.outbox_depth) == (2, 1, 3, 3)
    assert stats.last_inbound_at == LAST_SMS and not stats.silent


def test_valid_entries_per_hour_over_the_last_24_hours(known: Any) -> None:
    with known.app_context():
        stats = reports.dashboard(now=NOW, tz=CONAKRY)
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
        stats = reports.dashboard(now=NOW, tz=CONAKRY, campaign_start=datetime(2026, 6, 6, tzinfo=UTC))
        by_day = [(bucket.start.date().isoformat(), bucket.count) for bucket in stats.daily_valid]
        assert by_day == [("2026-06-06", 0), ("2026-06-07", 1), ("2026-06-08", 0), ("2026-06-09", 3),
                          ("2026-06-10", 3)]
        # without a configured start: from the first valid entry
        stats = reports.dashboard(now=NOW, tz=CONAKRY)
        assert stats.daily_valid[0].start == datetime(2026, 6, 7, tzinfo=UTC) and len(stats.daily_valid) == 4
        # a long campaign: only the latest days
        stats = reports.dashboard(now=NOW, tz=CONAKRY, campaign_start=datetime(2025, 1, 1, tzinfo=UTC))
        assert len(stats.daily_valid) == reports.DAILY_CHART_MAX_DAYS
        assert stats.daily_valid[-1] == reports.Bucket(datetime(2026, 6, 10, tzinfo=UTC), 3)


def test_the_day_follows_the_time_zone(known: Any) -> None:
    """Days and hours are the zone's: in UTC+3 'today' started at 21:00 UTC."""
    with known.app_context():
        stats = reports.dashboard(now=NOW, tz=ZoneInfo("Africa/Nairobi"))
    assert stats.today_start == datetime(2026, 6, 9, 21, tzinfo=UTC)
    assert stats.today == {"VALID_FIRST": 2, "VALID_AGAIN": 2, "INVALID_CODE": 1, "BAD_FORMAT": 1}
    assert stats.daily_valid[-1] == reports.Bucket(datetime(2026, 6, 9, 21, tzinfo=UTC), 4)
    assert stats.hourly_valid[-1] == reports.Bucket(datetime(2026, 6, 10, 8, tzinfo=UTC), 2)


def test_dashboard_page_shows_the_figures(known: Any, login: Any) -> None:
    with freeze_time(NOW):  # log in under the frozen clock too: a session from the future is refused
        html = login("viewer").get("/console/").get_data(as_text=True)
    assert "Tableau de bord" in html and "Participations valides par heure, dernières 24 heures" in html  # French
    stat = re.findall(r"<b>([^<]*)</b>", html)
    assert stat[1:5] == ["3", "10", "3", "3"]  # valid today, campaign entries, outbox depth, failed
    assert 'href="/console/messages?dir=out&amp;status=FAILED"' in html
    assert 'href="/console/entries?outcome=VALID_FIRST&amp;from=2026-06-10&amp;to=2026-06-10"' in html
    assert html.count('<svg class="chart"') == 2 and html.count("<rect x=") == 24 + 4  # hours + days
    assert "08:29" in html  # the last SMS, Conakry time
    assert "stat-warn" not in html


@pytest.mark.parametrize(("minutes", "warned"), [(29, False), (31, True)])
def test_silent_gateway_warning(known: Any, login: Any, minutes: int, warned: bool) -> None:
    with freeze_time(LAST_SMS + timedelta(minutes=minutes)):
        html = login("viewer").get("/console/").get_data(as_text=True)
    assert ("stat-warn" in html) is warned


def test_empty_dashboard(console_app: Any, login: Any) -> None:
    response = login("viewer").get("/console/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "stat-warn" in html  # no SMS ever: the gateway may not be wired yet
    assert html.count('<svg class="chart"') == 2


def test_dashboard_in_english(known: Any, login: Any) -> None:
    client = login("viewer")
    client.get("/lang/en?next=/console/")
    html = client.get("/console/").get_data(as_text=True)
    assert "Dashboard" in html and "Valid entries per hour, last 24 hours" in html and "Failed messages" in html


def test_settled_days_are_counted_once_per_process(known: Any) -> None:
    from sqlalchemy import event

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM entry" in statement:
            statements.append(statement)

    cache = reports.DayCounts()
    with known.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", record)
        try:
            first = reports.dashboard(now=NOW, tz=CONAKRY, cache=cache)
            cold = len(statements)
            statements.clear()
            again = reports.dashboard(now=NOW, tz=CONAKRY, cache=cache)
            warm = len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert again == first == reports.dashboard(now=NOW, tz=CONAKRY)  # same figures as uncached
        assert sorted(cache.days) == [datetime(2026, 6, d).date() for d in (7, 8, 9)]
        assert warm < cold  # the settled days were not read again
        # Just after midnight, the day that ended is still read live (late commits).
        just_after = reports.dashboard(now=datetime(2026, 6, 11, 0, 3, tzinfo=UTC), tz=CONAKRY, cache=cache)
        assert datetime(2026, 6, 10).date() not in cache.days
        assert just_after.campaign == first.campaign and just_after.today == {}
        reports.dashboard(now=datetime(2026, 6, 11, 0, 6, tzinfo=UTC), tz=CONAKRY, cache=cache)
        assert cache.days[datetime(2026, 6, 10).date()] == first.today
