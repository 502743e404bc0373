"""The dashboard's figures: entries by outcome (today, the campaign), valid entries per
hour and per day, the outbox and the last inbound SMS.

Day boundaries ("today", the per-day chart) are days of the campaign's time zone
(Africa/Conakry), passed in as ``tz``; times are UTC throughout.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, func, literal_column, select

from roko_app.configuration import CAMPAIGN_TZ
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, OutboundSms, OutboundStatus, Outcome, Participant
from roko_app.models.draw import VALID_OUTCOMES
from roko_app.reads.messages import DELIVERY
from roko_app.reads.values import day_start

# The dashboard warns when no SMS has come in for this long (a silent gateway).
SILENT_AFTER = timedelta(minutes=30)
# The per-day chart covers at most this many days (the latest).
DAILY_CHART_MAX_DAYS = 92

_TZ_KEY = re.compile(r"[A-Za-z0-9_+\-/]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime  # UTC
    count: int


@dataclass(frozen=True, slots=True)
class DashboardStats:
    now: datetime
    today_start: datetime  # midnight in the campaign's time zone, as UTC
    today: dict[str, int]  # entries since today_start, by outcome
    campaign: dict[str, int]  # every entry, by outcome
    hourly_valid: list[Bucket]  # valid entries per hour, the last 24 hours (the current one last)
    daily_valid: list[Bucket]  # valid entries per day since the campaign started (at most DAILY_CHART_MAX_DAYS)
    participants: int
    outbox_queued: int
    outbox_sending: int
    outbox_failed: int
    # Messages handed to the gateway in the last 24 hours, by delivery (reads.messages.DELIVERY):
    # delivered, undelivered, unknown, pending (no report yet).
    delivery_24h: dict[str, int]
    last_inbound_at: datetime | None
    silent: bool  # no inbound SMS for SILENT_AFTER (or none yet)

    @property
    def today_total(self) -> int:
        return sum(self.today.values())

    @property
    def campaign_total(self) -> int:
        return sum(self.campaign.values())

    @property
    def outbox_depth(self) -> int:
        return self.outbox_queued + self.outbox_sending


class DayCounts:
    """Entries per local day and outcome for the days that are over, kept for the life of
    the process (one per app: ``app.extensions``).

    A settled day never changes: entries are never updated or deleted, and an entry's
    ``created_at`` is the time its SMS reached us, so a day is settled once every SMS
    received that day is classified (a backlog, or a parked SMS an operator puts back,
    keeps its day and the later ones live) and :data:`LATE_COMMIT_MARGIN` has passed
    after its midnight (a webhook transaction still open at midnight has committed). Campaign totals and the per-day chart then
    cost one index range per outcome over today's entries, instead of a scan of every
    entry on each view of the dashboard; a process pays that scan once (and one day's
    worth after each midnight).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tz_key: str | None = None
        self.days: dict[date, dict[str, int]] = {}


# How long after midnight a day is taken as settled (its last transactions committed).
LATE_COMMIT_MARGIN = timedelta(minutes=5)


def dashboard_stats(*, now: datetime | None = None, tz: ZoneInfo = CAMPAIGN_TZ, campaign_start: datetime | None = None,
                    cache: DayCounts | None = None) -> DashboardStats:
    """The dashboard's figures at ``now``; ``cache`` keeps settled days between calls."""
    now = now or utcnow()
    local_now = now.astimezone(tz)
    today = local_now.date()
    per_day = _counts_per_day(now, tz, cache)
    campaign: dict[str, int] = {}
    for counts in per_day.values():
        for outcome, count in counts.items():
            campaign[outcome] = campaign.get(outcome, 0) + count

    outbox = dict(db.session.execute(
        select(OutboundSms.status, func.count())
        .where(OutboundSms.status.in_([OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.FAILED]))
        .group_by(OutboundSms.status)).all())
    delivery_24h: dict[str, int] = {}
    for status, count in db.session.execute(  # one range of ix_outbound_sms_status_created per status
            select(OutboundSms.status, func.count())
            .where(OutboundSms.status.in_(list(DELIVERY)), OutboundSms.created_at >= now - timedelta(hours=24))
            .group_by(OutboundSms.status)):
        delivery_24h[DELIVERY[status]] = delivery_24h.get(DELIVERY[status], 0) + count
    last_inbound = db.session.scalar(select(func.max(InboundSms.received_at)))
    participants = db.session.scalar(select(func.count()).select_from(Participant)) or 0

    return DashboardStats(
        now=now, today_start=day_start(today, tz), today=per_day.get(today, {}), campaign=campaign,
        hourly_valid=_hourly_valid(local_now, tz), daily_valid=_daily_valid(per_day, today, tz, campaign_start),
        participants=participants,
        outbox_queued=outbox.get(OutboundStatus.QUEUED, 0), outbox_sending=outbox.get(OutboundStatus.SENDING, 0),
        outbox_failed=outbox.get(OutboundStatus.FAILED, 0), delivery_24h=delivery_24h,
        last_inbound_at=last_inbound, silent=last_inbound is None or now - last_inbound > SILENT_AFTER,
    )


def _counts_per_day(now: datetime, tz: ZoneInfo, cache: DayCounts | None) -> dict[date, dict[str, int]]:
    """Entries by outcome for every local day from the first entry's to today's."""
    local_now = now.astimezone(tz)
    first = db.session.scalar(select(func.min(Entry.created_at)))
    if first is None:
        return {}
    first_day = first.astimezone(tz).date()
    live_from = min(local_now.date(), (now - LATE_COMMIT_MARGIN).astimezone(tz).date())  # days before are settled
    oldest_unclassified = db.session.scalar(  # ix_inbound_sms_unclassified: only the SMS still to classify
        select(func.min(InboundSms.received_at)).where(InboundSms.classified_at.is_(None)))
    if oldest_unclassified is not None:
        live_from = min(live_from, oldest_unclassified.astimezone(tz).date())
    days: dict[date, dict[str, int]] = {}
    if first_day < live_from:
        cache = cache or DayCounts()
        with cache.lock:
            if cache.tz_key != tz.key:
                cache.tz_key, cache.days = tz.key, {}
            missing = [day for day in _days(first_day, live_from - timedelta(days=1)) if day not in cache.days]
            if missing:
                found = _outcomes_per_day(day_start(missing[0], tz), day_start(missing[-1] + timedelta(days=1), tz),
                                          tz, local_now)
                for day in missing:
                    cache.days[day] = found.get(day, {})
            days.update((day, cache.days[day]) for day in _days(first_day, live_from - timedelta(days=1)))
    live = _outcomes_per_day(day_start(max(first_day, live_from), tz), None, tz, local_now)
    for day in _days(max(first_day, live_from), local_now.date()):
        days[day] = live.get(day, {})
    return days


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _outcomes_per_day(since: datetime, until: datetime | None, tz: ZoneInfo,
                      local_now: datetime) -> dict[date, dict[str, int]]:
    """Entries in ``[since, until)`` by local day and outcome: one query per outcome, each
    an index range on ``(outcome, created_at)`` (a GROUP BY over both columns would scan
    the whole index instead)."""
    bucket = _local_bucket("day", tz, local_now).label("bucket")
    counts: dict[date, dict[str, int]] = {}
    for outcome in Outcome:
        statement = select(bucket, func.count()).where(Entry.outcome == outcome.value, Entry.created_at >= since)
        if until is not None:
            statement = statement.where(Entry.created_at < until)
        for start, count in db.session.execute(statement.group_by(bucket)):
            counts.setdefault(_naive_local(start).date(), {})[outcome.value] = count
    return counts


def _hourly_valid(local_now: datetime, tz: ZoneInfo) -> list[Bucket]:
    current = local_now.replace(minute=0, second=0, microsecond=0)
    hours = [current - timedelta(hours=back) for back in range(23, -1, -1)]
    bucket = _local_bucket("hour", tz, local_now).label("bucket")
    counts: dict[datetime, int] = {}
    for outcome in VALID_OUTCOMES:  # one index range each, as above
        statement = (select(bucket, func.count())
                     .where(Entry.outcome == outcome.value, Entry.created_at >= hours[0].astimezone(UTC))
                     .group_by(bucket))
        for start, count in db.session.execute(statement):
            key = _naive_local(start)
            counts[key] = counts.get(key, 0) + count
    return [Bucket(hour.astimezone(UTC), counts.get(hour.replace(tzinfo=None), 0)) for hour in hours]


def _daily_valid(per_day: dict[date, dict[str, int]], today: date, tz: ZoneInfo,
                 campaign_start: datetime | None) -> list[Bucket]:
    valid = [o.value for o in VALID_OUTCOMES]
    if campaign_start is not None:
        first_day = campaign_start.astimezone(tz).date()
    else:
        first_day = min((day for day, counts in per_day.items() if any(counts.get(o) for o in valid)), default=today)
    first_day = min(today, max(first_day, today - timedelta(days=DAILY_CHART_MAX_DAYS - 1)))
    return [Bucket(day_start(day, tz), sum(per_day.get(day, {}).get(o, 0) for o in valid))
            for day in _days(first_day, today)]


def _naive_local(start: Any) -> datetime:
    """A bucket's start as returned by the database: text on SQLite, a timestamp on PostgreSQL."""
    value = datetime.fromisoformat(start) if isinstance(start, str) else start
    return value.replace(tzinfo=None)


def _local_bucket(unit: str, tz: ZoneInfo, local_now: datetime) -> Any:
    """The start of the local hour or day of ``entry.created_at``.

    PostgreSQL converts with the zone's rules; SQLite (naive UTC text) shifts by the
    zone's current offset, which is exact for Africa/Conakry (UTC+0, no DST)."""
    if unit not in ("hour", "day") or not _TZ_KEY.fullmatch(tz.key):
        raise ValueError(f"bad bucket {unit!r} or zone {tz.key!r}")
    if db.session.get_bind().dialect.name == "postgresql":
        local = func.timezone(literal_column(f"'{tz.key}'"), Entry.created_at)
        return func.date_trunc(literal_column(f"'{unit}'"), local, type_=DateTime())
    offset = int((local_now.utcoffset() or timedelta()).total_seconds())
    if offset == 0:  # the stored text ("YYYY-MM-DD HH:MM:SS.ffffff") is already local: cut it
        length, rest = (13, ":00:00") if unit == "hour" else (10, " 00:00:00")
        return func.substr(Entry.created_at, 1, length).concat(literal_column(f"'{rest}'"))
    pattern = "%Y-%m-%d %H:00:00" if unit == "hour" else "%Y-%m-%d 00:00:00"
    # Whole seconds first: SQLite's date functions round fractions to milliseconds, which
    # would carry 23:59:59.9999 into the next day.
    whole_seconds = func.substr(Entry.created_at, 1, 19)
    return func.strftime(literal_column(f"'{pattern}'"), whole_seconds, literal_column(f"'{offset:+d} seconds'"))
