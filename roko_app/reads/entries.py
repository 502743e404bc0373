"""The entry search (newest first, keyset pages) and its streamed CSV export.

Day boundaries of the date filters are days of the campaign's time zone
(Africa/Conakry), passed in as ``tz``; times are UTC throughout.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, func, literal_column, select

from roko_app.configuration import CAMPAIGN_TZ
from roko_app.extensions import db
from roko_app.models import Entry, InboundSms
from roko_app.reads.csv_safety import safe_cell, safe_row
from roko_app.reads.pager import Cursor, Page, keyset_page, older_than
from roko_app.reads.values import code_key, contains_pattern, day_start, msisdn_key, phone_part

# Rows per query of the CSV export: one fresh keyset query per chunk, so the export's
# memory does not grow with the number of rows.
CSV_CHUNK_ROWS = 5000


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """The entry search, as typed: every field optional, all of them combined (AND)."""

    outcome: str | None = None
    date_from: date | None = None  # a day in ``tz``, inclusive
    date_to: date | None = None  # a day in ``tz``, inclusive (the search stops at the next midnight)
    phone: str | None = None  # any way of writing the number (see msisdn_key), or 3 to 8 of its digits
    code: str | None = None  # any way of writing the code (see code_key)
    tz: tzinfo = CAMPAIGN_TZ
    text: str | None = None  # part of the SMS, any case

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.outcome:
            conditions.append(Entry.outcome == self.outcome)
        if self.date_from is not None:
            conditions.append(Entry.created_at >= day_start(self.date_from, self.tz))
        if self.date_to is not None:
            conditions.append(Entry.created_at < day_start(self.date_to + timedelta(days=1), self.tz))
        if self.phone and self.phone.strip():
            part = self.phone_part
            conditions.append(Entry.msisdn.contains(part, autoescape=True) if part else
                              Entry.msisdn == msisdn_key(self.phone))
        if self.code and self.code.strip():
            conditions.append(Entry.code == code_key(self.code))
        if self.text and self.text.strip():
            conditions.append(Entry.sms_id.in_(select(InboundSms.id).where(
                func.lower(InboundSms.text).like(contains_pattern(self.text), escape="\\"))))
        return conditions

    @property
    def phone_part(self) -> str | None:
        """The digits of ``phone`` when it is only part of a number (see :func:`phone_part`)."""
        return phone_part(self.phone)

    def narrowed(self, before: Cursor | None, after: Cursor | None = None) -> EntryFilters:
        """These filters without a date bound that the cursor makes redundant. The
        database then bounds its index range by the cursor; given both bounds, SQLite may
        pick the date's and read every row between the two before reaching the page."""
        filters = self
        if before is not None and filters.date_to is not None \
                and before.at < day_start(filters.date_to + timedelta(days=1), filters.tz):
            filters = replace(filters, date_to=None)
        if after is not None and filters.date_from is not None \
                and after.at >= day_start(filters.date_from, filters.tz):
            filters = replace(filters, date_from=None)
        return filters

    def describe(self) -> dict[str, str]:
        """The filters in force, as plain strings (for the audit log)."""
        values = {"outcome": self.outcome, "from": self.date_from and self.date_from.isoformat(),
                  "to": self.date_to and self.date_to.isoformat(),
                  "phone": self.phone and (self.phone_part or msisdn_key(self.phone)),
                  "code": self.code and code_key(self.code), "text": self.text and self.text.strip()}
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


def search_entries(filters: EntryFilters, *, before: Cursor | None = None, after: Cursor | None = None,
                   limit: int | None = None) -> Page[EntryRow]:
    """One page of entries matching ``filters``, newest first, with their SMS text."""
    statement = select(*_ENTRY_COLUMNS).where(*filters.narrowed(before, after).conditions())
    page = keyset_page(statement, Entry.created_at, Entry.id, before=before, after=after, limit=limit)
    texts = sms_texts(row.sms_id for row in page.rows)
    return page.with_rows([EntryRow(*row, text=texts.get(row.sms_id)) for row in page.rows])


def count_entries(filters: EntryFilters) -> int:
    """How many entries match ``filters`` (the list's total)."""
    return db.session.scalar(select(func.count()).select_from(Entry).where(*filters.conditions())) or 0


def sms_texts(ids: Iterable[int]) -> dict[int, str]:
    """The text of the inbound SMS ``ids`` (one query, by primary key)."""
    wanted = list(ids)
    if not wanted:
        return {}
    return dict(db.session.execute(select(InboundSms.id, InboundSms.text).where(InboundSms.id.in_(wanted))).all())


# --------------------------------------------------------------------------- CSV export


CSV_HEADER = ("entry_id", "created_at_utc", "msisdn", "outcome", "code", "chances", "sms_id", "sms_text")


def _as_is(value: str) -> str:
    return value


@dataclass(frozen=True, slots=True)
class CsvLayout:
    """How an export is written: its header, delimiter, and how outcomes and times read.
    :data:`RAW_CSV` is the machine form (``,``, keys, ISO times); the console builds a
    spreadsheet form for people (console/entries.py)."""

    header: tuple[str, ...] = CSV_HEADER
    delimiter: str = ","
    outcome: Callable[[str], str] = _as_is
    time: Callable[[str], str] = _as_is  # from ``YYYY-MM-DD HH:MM:SS``


RAW_CSV = CsvLayout()


def day_first(text: str) -> str:
    """``2026-06-10 08:00:00`` as ``10/06/2026 08:00:00`` (how a French spreadsheet reads a time)."""
    return f"{text[8:10]}/{text[5:7]}/{text[0:4]} {text[11:19]}" if len(text) >= 19 else text


def iter_entries_csv(filters: EntryFilters, chunk_rows: int | None = None,
                     layout: CsvLayout = RAW_CSV) -> Iterator[str]:
    """The CSV export of every entry matching ``filters``, newest first, piece by piece.

    A UTF-8 byte order mark (so spreadsheet programs read accents right), a header row,
    then one piece per chunk of ``chunk_rows`` entries, each read by a fresh keyset query
    after the last row of the previous chunk (joined to its SMS for the text): memory
    stays flat however many rows match. Times are ``YYYY-MM-DD HH:MM:SS`` in UTC, which
    is also Africa/Conakry time (UTC+0 all year), unless ``layout`` says otherwise.

    A million rows go through here, so the loop stays in Core and takes the timestamp as
    the driver gives it (text on SQLite) instead of building a datetime per row.
    """
    chunk_rows = chunk_rows or CSV_CHUNK_ROWS
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=layout.delimiter, lineterminator="\r\n")
    writer.writerow(safe_row(layout.header))
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
            base_for(filters.narrowed(cursor)).where(older_than(Entry.created_at, Entry.id, cursor)))
        rows = connection.execute(statement).all()
        if not rows:
            return
        # Every text cell through safe_cell (a farmer's number or text is not a formula).
        outcome_of, time_of = layout.outcome, layout.time
        writer.writerows((id_, safe_cell(time_of(at_text)), safe_cell(msisdn), safe_cell(outcome_of(outcome)),
                          safe_cell(code or ""), chances, sms_id, safe_cell(text or ""))
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


def _drain(buffer: io.StringIO) -> str:
    value = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return value
