"""The inbound and outbound message logs, newest first, in keyset pages; one outbound
message with its delivery reports."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import DeliveryReport, Entry, InboundDiscrepancy, InboundSms, OutboundSms, OutboundStatus
from roko_app.reads.pager import Cursor, Page, keyset_page
from roko_app.reads.values import contains_pattern, is_guinea_mobile, msisdn_key, phone_part


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


_INBOUND_COLUMNS = (InboundSms.id, InboundSms.received_at, InboundSms.sender, InboundSms.sender_msisdn,
                    InboundSms.port, InboundSms.text)


def inbound_conditions(phone: str | None = None, text: str | None = None) -> list[Any]:
    """Inbound SMS from the number ``phone`` (or with 3 to 8 of its digits in the sender),
    containing ``text`` (any case)."""
    conditions: list[Any] = []
    if phone and phone.strip():
        part = phone_part(phone)
        conditions.append(InboundSms.sender.contains(part, autoescape=True) if part else sent_by(msisdn_key(phone)))
    if text and text.strip():
        conditions.append(func.lower(InboundSms.text).like(contains_pattern(text), escape="\\"))
    return conditions


def outbound_conditions(status: str | None = None, phone: str | None = None, text: str | None = None) -> list[Any]:
    """Outbound SMS of ``status``, to ``phone`` (or a number with those 3 to 8 digits),
    containing ``text`` (any case)."""
    conditions: list[Any] = []
    if status:
        conditions.append(OutboundSms.status == status)
    if phone and phone.strip():
        part = phone_part(phone)
        conditions.append(OutboundSms.to_msisdn.contains(part, autoescape=True) if part
                          else OutboundSms.to_msisdn == msisdn_key(phone))
    if text and text.strip():
        conditions.append(func.lower(OutboundSms.text).like(contains_pattern(text), escape="\\"))
    return conditions


def count_where(model: Any, conditions: list[Any]) -> int:
    """How many rows of ``model`` match ``conditions`` (a list's total)."""
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def inbound_page(*, phone: str | None = None, text: str | None = None, before: Cursor | None = None,
                 after: Cursor | None = None, limit: int | None = None) -> Page[InboundRow]:
    """Inbound SMS, newest first (by ``received_at``, ``id``), with their entry's outcome."""
    statement = select(*_INBOUND_COLUMNS).where(*inbound_conditions(phone, text))
    page = keyset_page(statement, InboundSms.received_at, InboundSms.id, before=before, after=after, limit=limit)
    entries = entries_of_sms(row.id for row in page.rows)
    return page.with_rows([InboundRow(*row, *entries.get(row.id, (None, None))) for row in page.rows])


def outbound_page(*, status: str | None = None, phone: str | None = None, text: str | None = None,
                  before: Cursor | None = None, after: Cursor | None = None,
                  limit: int | None = None) -> Page[OutboundSms]:
    """Outbound SMS, newest first (by ``created_at``, ``id``), filtered (:func:`outbound_conditions`)."""
    statement = select(OutboundSms).where(*outbound_conditions(status, phone, text))
    return keyset_page(statement, OutboundSms.created_at, OutboundSms.id, before=before, after=after, limit=limit)


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """A replay of a stored SMS whose content differed: what we kept and what came again."""

    id: int
    received_at: datetime
    sms_id: int
    fields: list[str]
    payload: dict[str, Any]
    sender: str
    text: str
    gateway_timestamp: datetime
    stored_at: datetime


def replay_page(*, sms_id: int | None = None, before: Cursor | None = None, after: Cursor | None = None,
                limit: int | None = None) -> Page[ReplayRow]:
    """Replays with different content, newest first (by when the replay came, ``id``),
    each beside the SMS as stored; only those of ``sms_id`` if given."""
    statement = (select(InboundDiscrepancy.id, InboundDiscrepancy.received_at, InboundDiscrepancy.sms_id,
                        InboundDiscrepancy.fields, InboundDiscrepancy.payload, InboundSms.sender, InboundSms.text,
                        InboundSms.gateway_timestamp, InboundSms.received_at.label("stored_at"))
                 .join(InboundSms, InboundSms.id == InboundDiscrepancy.sms_id))
    if sms_id is not None:
        statement = statement.where(InboundDiscrepancy.sms_id == sms_id)
    page = keyset_page(statement, InboundDiscrepancy.received_at, InboundDiscrepancy.id, before=before, after=after,
                       limit=limit)
    return page.with_rows([ReplayRow(*row) for row in page.rows])


def replay_counts(sms_ids: Iterable[int]) -> dict[int, int]:
    """How many differing replays each of the SMS ``sms_ids`` had (those with none left out)."""
    wanted = list(sms_ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(InboundDiscrepancy.sms_id, func.count()).where(
        InboundDiscrepancy.sms_id.in_(wanted)).group_by(InboundDiscrepancy.sms_id))
    return {sms_id: count for sms_id, count in rows}


def sent_by(key: str) -> Any:
    """The condition "this inbound SMS was sent by the number ``key``" (as stored on entries)."""
    if is_guinea_mobile(key):
        return InboundSms.sender_msisdn == key
    # A foreign sender has no normalised form; its entries carry the sender as received.
    return InboundSms.id.in_(select(Entry.sms_id).where(Entry.msisdn == key))


def entries_of_sms(ids: Iterable[int]) -> dict[int, tuple[int, str]]:
    """``{sms id: (entry id, outcome)}`` for those of the inbound SMS ``ids`` that have an entry."""
    wanted = list(ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(Entry.sms_id, Entry.id, Entry.outcome).where(Entry.sms_id.in_(wanted)))
    return {sms_id: (entry_id, outcome) for sms_id, entry_id, outcome in rows}


#: What a message's status says about its delivery to the phone (docs/topaz-gateway.md §4):
#: ``delivered``, ``undelivered``, ``unknown`` (no report came, or the outcome is
#: uncertain), ``pending`` (sent, its report awaited); None before the gateway had it.
DELIVERY: dict[str, str] = {
    OutboundStatus.SENT: "pending",
    OutboundStatus.DELIVERED: "delivered",
    OutboundStatus.UNDELIVERED: "undelivered",
    OutboundStatus.EXPIRED: "undelivered",
    OutboundStatus.UNREPORTED: "unknown",
    OutboundStatus.UNCERTAIN: "unknown",
}


def delivery_of(status: str | None) -> str | None:
    """``status``'s delivery (a value of :data:`DELIVERY`), or None."""
    return DELIVERY.get(status or "")


@dataclass(frozen=True, slots=True)
class OutboundDetail:
    message: OutboundSms
    delivery: str | None
    # Every delivery report the gateway posted about it, oldest first.
    reports: list[DeliveryReport]


def outbound_detail(message_id: int) -> OutboundDetail | None:
    """One outbound message with its delivery and reports; None when there is none."""
    message = db.session.get(OutboundSms, message_id)
    if message is None:
        return None
    reports = list(db.session.scalars(select(DeliveryReport).where(DeliveryReport.outbound_sms_id == message_id)
                                      .order_by(DeliveryReport.received_at, DeliveryReport.id)))
    return OutboundDetail(message, delivery_of(message.status), reports)
