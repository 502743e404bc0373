"""What the console reads: dashboard figures, the entry search and its streamed CSV
export, the inbound and outbound logs, and one farmer's conversation.

Lists are newest first, ordered by ``(timestamp, id)`` and paginated by keyset, never
by ``OFFSET``: a page is "the ``limit`` rows just older (or newer) than the cursor
row", which the indexes ``(created_at, id)``, ``(outcome, created_at, id)`` and
``(msisdn, created_at, id)`` on ``entry`` answer by reading ``limit`` index entries,
however deep the page. The keyset condition is written
``ts <= :ts AND (ts < :ts OR id < :id)`` rather than as a row-value comparison, so
both SQLite and PostgreSQL use it as an index range (checked with ``EXPLAIN``, see
``bench/README.md``); the ``id`` tie-break keeps rows with equal timestamps from being
skipped or repeated between pages.

Times are UTC throughout; day boundaries (date filters, "today", the per-day chart)
are days of the campaign's time zone (Africa/Conakry), passed in as ``tz``.

Nothing here commits, touches the request or renders anything.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Select, and_, func, literal_column, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from roko_app.configuration import CAMPAIGN_TZ
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, OutboundSms, OutboundStatus, Outcome, Participant
from roko_app.models.draw import VALID_OUTCOMES
from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn
from roko_app.sms.parsing import canonical_code

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
# Rows per query of the CSV export: one fresh keyset query per chunk, so the export's
# memory does not grow with the number of rows.
CSV_CHUNK_ROWS = 5000
# A farmer's page shows at most this many messages (the latest) and entries.
CONVERSATION_LIMIT = 200
FARMER_ENTRIES_LIMIT = 200
# The dashboard warns when no SMS has come in for this long (a silent gateway).
SILENT_AFTER = timedelta(minutes=30)
# The per-day chart covers at most this many days (the latest).
DAILY_CHART_MAX_DAYS = 92

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?[0-9]{1,18})_([0-9]{1,18})", re.ASCII)
_TZ_KEY = re.compile(r"[A-Za-z0-9_+\-/]+", re.ASCII)

T = TypeVar("T")


# --------------------------------------------------------------------------- keyset pages


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


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, limit))


def _older_than(at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], cursor: Cursor) -> Any:
    return and_(at <= cursor.at, or_(at < cursor.at, id_ < cursor.id))


def _newer_than(at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any], cursor: Cursor) -> Any:
    return and_(at >= cursor.at, or_(at > cursor.at, id_ > cursor.id))


def _keyset_page(base: Select[Any], at: InstrumentedAttribute[Any], id_: InstrumentedAttribute[Any],
                 key: Callable[[Any], Cursor], before: Cursor | None, after: Cursor | None,
                 limit: int | None) -> tuple[list[Any], str | None, str | None, bool]:
    """One page of ``base``'s rows, newest first: (rows, older, newer, first)."""
    limit = clamp_limit(limit)
    if after is not None:
        rows = list(db.session.execute(
            base.where(_newer_than(at, id_, after)).order_by(at.asc(), id_.asc()).limit(limit + 1)))
        if len(rows) > limit:
            rows = rows[:limit]
            rows.reverse()
            return rows, key(rows[-1]).encode(), key(rows[0]).encode(), False
        before = None  # fewer than a page is newer than the cursor: show the first page
    statement = base if before is None else base.where(_older_than(at, id_, before))
    rows = list(db.session.execute(statement.order_by(at.desc(), id_.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    older = key(rows[-1]).encode() if more else None
    newer = key(rows[0]).encode() if before is not None and rows else None
    return rows, older, newer, before is None


# --------------------------------------------------------------------------- values typed by people


def msisdn_key(raw: str) -> str:
    """How a number typed by a person is stored: the 9-digit form of a Guinea mobile,
    else the text as typed (stripped), as for a foreign sender."""
    try:
        return normalize_msisdn(raw)
    except InvalidMsisdn:
        return raw.strip()


def code_key(raw: str) -> str:
    """A code typed by a person in its stored form: ``u 1234 5678`` -> ``U12345678``;
    8 digits alone get their ``U``; anything else is kept (upper-cased) and matches nothing."""
    compact = "".join(raw.split())
    if compact.isascii() and compact.isdigit() and len(compact) == 8:
        compact = "U" + compact
    return canonical_code(compact) or compact.upper()


def day_start(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """The entry search, as typed: every field optional, all of them combined (AND)."""

    outcome: str | None = None
    date_from: date | None = None  # a day in ``tz``, inclusive
    date_to: date | None = None  # a day in ``tz``, inclusive (the search stops at the next midnight)
    phone: str | None = None  # any way of writing the number (see msisdn_key)
    code: str | None = None  # any way of writing the code (see code_key)
    tz: tzinfo = CAMPAIGN_TZ

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.outcome:
            conditions.append(Entry.outcome == self.outcome)
        if self.date_from is not None:
            conditions.append(Entry.created_at >= day_start(self.date_from, self.tz))
        if self.date_to is not None:
            conditions.append(Entry.created_at < day_start(self.date_to + timedelta(days=1), self.tz))
        if self.phone and self.phone.strip():
            conditions.append(Entry.msisdn == msisdn_key(self.phone))
        if self.code and self.code.strip():
            conditions.append(Entry.code == code_key(self.code))
        return conditions

    def describe(self) -> dict[str, str]:
        """The filters in force, as plain strings (for the audit log)."""
        values = {"outcome": self.outcome, "from": self.date_from and self.date_from.isoformat(),
                  "to": self.date_to and self.date_to.isoformat(),
                  "phone": self.phone and msisdn_key(self.phone), "code": self.code and code_key(self.code)}
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True, slots=True)
class EntryRow:
    id: int
    created_at: datetime
    msisdn: str
    outcome: str
    code: str | None
    chances: int
    sms_id: int
    text: str | None  # the SMS as the farmer typed it


_ENTRY_COLUMNS = (Entry.id, Entry.created_at, Entry.msisdn, Entry.outcome, Entry.code, Entry.chances, Entry.sms_id)


def _entry_cursor(row: Any) -> Cursor:
    return Cursor(row.created_at, row.id)


def search_entries(filters: EntryFilters, *, before: Cursor | None = None, after: Cursor | None = None,
                   limit: int | None = None) -> Page[EntryRow]:
    """One page of entries matching ``filters``, newest first, with their SMS text."""
    base = select(*_ENTRY_COLUMNS).where(*_narrowed(filters, before, after).conditions())
    rows, older, newer, first = _keyset_page(base, Entry.created_at, Entry.id, _entry_cursor, before, after, limit)
    texts = sms_texts(row.sms_id for row in rows)
    return Page([EntryRow(*row, text=texts.get(row.sms_id)) for row in rows], older, newer, first)


def _narrowed(filters: EntryFilters, before: Cursor | None, after: Cursor | None = None) -> EntryFilters:
    """``filters`` without a date bound that the cursor makes redundant. The database then
    bounds its index range by the cursor; given both bounds, SQLite may pick the date's
    and read every row between the two before reaching the page."""
    if before is not None and filters.date_to is not None \
            and before.at < day_start(filters.date_to + timedelta(days=1), filters.tz):
        filters = replace(filters, date_to=None)
    if after is not None and filters.date_from is not None and after.at >= day_start(filters.date_from, filters.tz):
        filters = replace(filters, date_from=None)
    return filters


def sms_texts(ids: Iterable[int]) -> dict[int, str]:
    """The text of the inbound SMS ``ids`` (one query, by primary key)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return dict(db.session.execute(select(InboundSms.id, InboundSms.text).where(InboundSms.id.in_(wanted))).all())


CSV_HEADER = ("entry_id", "created_at_utc", "msisdn", "outcome", "code", "chances", "sms_id", "sms_text")
# A cell starting with one of these is a formula to a spreadsheet: farmers' texts are
# exported with a leading apostrophe instead (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def iter_entries_csv(filters: EntryFilters, chunk_rows: int | None = None) -> Iterator[str]:
    """The CSV export of every entry matching ``filters``, newest first, piece by piece.

    A UTF-8 byte order mark (so spreadsheet programs read accents right), a header row,
    then one piece per chunk of ``chunk_rows`` entries, each read by a fresh keyset query
    after the last row of the previous chunk (joined to its SMS for the text): memory
    stays flat however many rows match. Times are ``YYYY-MM-DD HH:MM:SS`` in UTC, which
    is also Africa/Conakry time (UTC+0 all year).

    A million rows go through here, so the loop stays in Core and takes the timestamp as
    the driver gives it (text on SQLite) instead of building a datetime per row.
    """
    chunk_rows = chunk_rows or CSV_CHUNK_ROWS
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + _drain(buffer)
    entry, sms = Entry.__table__, InboundSms.__table__
    columns = (entry.c.id, _RAW_CREATED_AT, _utc_text(), entry.c.msisdn, entry.c.outcome, entry.c.code,
               entry.c.chances, entry.c.sms_id, sms.c.text)

    def base_for(narrowed: EntryFilters) -> Select[Any]:
        return (select(*columns).join_from(entry, sms, sms.c.id == entry.c.sms_id).where(*narrowed.conditions())
                .order_by(entry.c.created_at.desc(), entry.c.id.desc()).limit(chunk_rows))

    base = base_for(filters)
    connection = db.session.connection()
    cursor: Cursor | None = None
    while True:
        statement = base if cursor is None else (
            base_for(_narrowed(filters, cursor)).where(_older_than(Entry.created_at, Entry.id, cursor)))
        rows = connection.execute(statement).all()
        if not rows:
            return
        writer.writerows((id_, at_text, msisdn, outcome, code or "", chances, sms_id, _csv_text(text))
                         for id_, _at, at_text, msisdn, outcome, code, chances, sms_id, text in rows)
        yield _drain(buffer)
        if len(rows) < chunk_rows:
            return
        cursor = Cursor(_utc(rows[-1][1]), rows[-1][0])
        del rows


# entry.created_at as the driver returns it, for the next chunk's cursor: SQLite's
# stored text ("YYYY-MM-DD HH:MM:SS.ffffff", UTC), a timezone-aware datetime from
# PostgreSQL (no per-row conversion in Python).
_RAW_CREATED_AT = literal_column("entry.created_at")


def _utc_text() -> Any:
    """entry.created_at as ``YYYY-MM-DD HH:MM:SS`` in UTC, formatted by the database."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), Entry.__table__.c.created_at),
                            literal_column("'YYYY-MM-DD HH24:MI:SS'"))
    return func.substr(Entry.__table__.c.created_at, 1, 19)


def _utc(value: str | datetime) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _csv_text(text: str | None) -> str:
    if not text:
        return ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return value


# --------------------------------------------------------------------------- message logs


@dataclass(frozen=True, slots=True)
class InboundRow:
    id: int
    received_at: datetime
    sender: str
    sender_msisdn: str | None
    port: int
    text: str
    entry_id: int | None
    outcome: str | None

    @property
    def farmer(self) -> str:
        """The number the farmer's page is keyed by (as on the entry)."""
        return self.sender_msisdn or self.sender


def inbound_page(*, phone: str | None = None, before: Cursor | None = None, after: Cursor | None = None,
                 limit: int | None = None) -> Page[InboundRow]:
    """Inbound SMS, newest first (by ``received_at``, ``id``), with their entry's outcome."""
    columns = (InboundSms.id, InboundSms.received_at, InboundSms.sender, InboundSms.sender_msisdn,
               InboundSms.port, InboundSms.text)
    base = select(*columns)
    if phone and phone.strip():
        base = base.where(_inbound_from(msisdn_key(phone)))
    rows, older, newer, first = _keyset_page(base, InboundSms.received_at, InboundSms.id,
                                             lambda row: Cursor(row.received_at, row.id), before, after, limit)
    entries = _entries_of_sms(row.id for row in rows)
    return Page([InboundRow(*row, *entries.get(row.id, (None, None))) for row in rows], older, newer, first)


def _inbound_from(key: str) -> Any:
    """SMS sent by the number ``key`` (as stored on entries)."""
    if _is_guinea(key):
        return InboundSms.sender_msisdn == key
    # A foreign sender has no normalised form; its entries carry the sender as received.
    return InboundSms.id.in_(select(Entry.sms_id).where(Entry.msisdn == key))


def _entries_of_sms(ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(Entry.sms_id, Entry.id, Entry.outcome).where(Entry.sms_id.in_(wanted)))
    return {sms_id: (entry_id, outcome) for sms_id, entry_id, outcome in rows}


def outbound_page(*, status: str | None = None, phone: str | None = None, before: Cursor | None = None,
                  after: Cursor | None = None, limit: int | None = None) -> Page[OutboundSms]:
    """Outbound SMS, newest first (by ``created_at``, ``id``), optionally of one status."""
    base = select(OutboundSms)
    if status:
        base = base.where(OutboundSms.status == status)
    if phone and phone.strip():
        base = base.where(OutboundSms.to_msisdn == msisdn_key(phone))
    rows, older, newer, first = _keyset_page(base, OutboundSms.created_at, OutboundSms.id,
                                             lambda row: Cursor(row[0].created_at, row[0].id), before, after, limit)
    return Page([row[0] for row in rows], older, newer, first)


# --------------------------------------------------------------------------- a farmer


@dataclass(frozen=True, slots=True)
class ConversationItem:
    direction: str  # "in" or "out"
    id: int
    at: datetime  # received (in) or queued (out)
    text: str
    status: str | None = None  # out: QUEUED, SENDING, SENT, FAILED, ...
    sent_at: datetime | None = None
    last_error: str | None = None
    entry_id: int | None = None  # in: its entry
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class Farmer:
    msisdn: str
    participant: Participant | None
    entries: list[Entry]  # newest first
    entries_truncated: bool
    conversation: list[ConversationItem]  # oldest first: the latest CONVERSATION_LIMIT messages
    conversation_truncated: bool

    def blocked(self, now: datetime) -> bool:
        until = self.participant.blocked_until if self.participant else None
        return until is not None and until > now


def farmer(msisdn: str, *, limit: int = CONVERSATION_LIMIT, entries_limit: int = FARMER_ENTRIES_LIMIT) -> Farmer | None:
    """Everything about the number ``msisdn`` (as stored: see :func:`msisdn_key`), or None
    when we have never heard from nor written to it."""
    participant = db.session.scalars(select(Participant).where(Participant.msisdn == msisdn)).one_or_none()
    entries = list(db.session.scalars(
        select(Entry).where(Entry.msisdn == msisdn).order_by(Entry.created_at.desc(), Entry.id.desc())
        .limit(entries_limit + 1)))
    inbound = list(db.session.execute(
        select(InboundSms.id, InboundSms.received_at, InboundSms.text).where(_inbound_from(msisdn))
        .order_by(InboundSms.received_at.desc(), InboundSms.id.desc()).limit(limit + 1)))
    outbound: list[OutboundSms] = []
    if _is_guinea(msisdn):
        outbound = list(db.session.scalars(
            select(OutboundSms).where(OutboundSms.to_msisdn == msisdn)
            .order_by(OutboundSms.created_at.desc(), OutboundSms.id.desc()).limit(limit + 1)))
    if participant is None and not entries and not inbound and not outbound:
        return None
    of_sms = _entries_of_sms(row.id for row in inbound)
    items = [ConversationItem("in", row.id, row.received_at, row.text,
                              entry_id=of_sms.get(row.id, _NO_ENTRY)[0], outcome=of_sms.get(row.id, _NO_ENTRY)[1])
             for row in inbound]
    items += [ConversationItem("out", m.id, m.created_at, m.text, status=m.status, sent_at=m.sent_at,
                               last_error=m.last_error) for m in outbound]
    items.sort(key=lambda item: (item.at, item.direction != "in", item.id))
    truncated = len(items) > limit or len(inbound) > limit or len(outbound) > limit
    return Farmer(msisdn, participant, entries[:entries_limit], len(entries) > entries_limit,
                  items[-limit:], truncated)


_NO_ENTRY: tuple[None, None] = (None, None)


def _is_guinea(key: str) -> bool:
    return len(key) == 9 and key.isascii() and key.isdigit() and key.startswith("6")


# --------------------------------------------------------------------------- the dashboard


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

    A settled day never changes: entries are never updated or deleted, and one is only
    written with ``created_at`` = the moment it is classified. A day counts as settled
    :data:`LATE_COMMIT_MARGIN` after its midnight, so a transaction still open at midnight
    has committed before the day is cached. Campaign totals and the per-day chart then
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


def dashboard(*, now: datetime | None = None, tz: ZoneInfo = CAMPAIGN_TZ, campaign_start: datetime | None = None,
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
    last_inbound = db.session.scalar(select(func.max(InboundSms.received_at)))
    participants = db.session.scalar(select(func.count()).select_from(Participant)) or 0

    return DashboardStats(
        now=now, today_start=day_start(today, tz), today=per_day.get(today, {}), campaign=campaign,
        hourly_valid=_hourly_valid(local_now, tz), daily_valid=_daily_valid(per_day, today, tz, campaign_start),
        participants=participants,
        outbox_queued=outbox.get(OutboundStatus.QUEUED, 0), outbox_sending=outbox.get(OutboundStatus.SENDING, 0),
        outbox_failed=outbox.get(OutboundStatus.FAILED, 0),
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


__all__: Sequence[str] = [
    "Bucket", "ConversationItem", "Cursor", "DashboardStats", "DayCounts", "EntryFilters", "EntryRow", "Farmer", "InboundRow",
    "Page", "clamp_limit", "code_key", "dashboard", "day_start", "farmer", "inbound_page", "iter_entries_csv",
    "msisdn_key", "outbound_page", "search_entries", "sms_texts",
]
