"""One farmer's page: every SMS in and out as one conversation, and their entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, OutboundSms, Participant
from roko_app.reads.messages import entries_of_sms, sent_by
from roko_app.reads.values import is_guinea_mobile

# A farmer's page shows at most this many messages (the latest) and entries.
CONVERSATION_LIMIT = 200
FARMER_ENTRIES_LIMIT = 200


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
    """Everything about the number ``msisdn`` (as stored: see
    :func:`roko_app.reads.values.msisdn_key`), or None when we have never heard from nor
    written to it."""
    participant = db.session.scalars(select(Participant).where(Participant.msisdn == msisdn)).one_or_none()
    entries = list(db.session.scalars(
        select(Entry).where(Entry.msisdn == msisdn).order_by(Entry.created_at.desc(), Entry.id.desc())
        .limit(entries_limit + 1)))
    inbound = list(db.session.execute(
        select(InboundSms.id, InboundSms.received_at, InboundSms.text).where(sent_by(msisdn))
        .order_by(InboundSms.received_at.desc(), InboundSms.id.desc()).limit(limit + 1)))
    outbound: list[OutboundSms] = []
    if is_guinea_mobile(msisdn):
        outbound = list(db.session.scalars(
            select(OutboundSms).where(OutboundSms.to_msisdn == msisdn)
            .order_by(OutboundSms.created_at.desc(), OutboundSms.id.desc()).limit(limit + 1)))
    if participant is None and not entries and not inbound and not outbound:
        return None
    of_sms = entries_of_sms(row.id for row in inbound)
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
