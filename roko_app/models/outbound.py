"""The outbox: every SMS we send is a row first, then dispatched through the gateway."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class OutboundStatus(enum.StrEnum):
    QUEUED = "QUEUED"  # waiting for its time (next_attempt_at) and a worker
    SENDING = "SENDING"  # claimed by a sender until lease_expires_at
    SENT = "SENT"  # the gateway accepted it (gateway_sms_id)
    FAILED = "FAILED"  # rejected, or out of attempts: the dead letter, re-queueable by hand
    CANCELLED = "CANCELLED"  # withdrawn by an operator before it was sent (campaign batches)


class Priority(enum.IntEnum):
    BULK = 0
    API = 5
    REPLY = 10


class OutboundSms(db.Model):
    __tablename__ = "outbound_sms"
    __table_args__ = (
        # The worker's claim: one range per (status, priority), read in send order.
        Index("ix_outbound_sms_queue", "status", "priority", "next_attempt_at", "id"),
        Index("ix_outbound_sms_to_msisdn", "to_msisdn"),
        Index("ix_outbound_sms_created_at", "created_at"),
        # The console's outbound log filtered by status, newest first (keyset pages).
        Index("ix_outbound_sms_status_created", "status", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    to_msisdn: Mapped[str] = mapped_column(String(9))
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(5))
    units: Mapped[int] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(10), default=OutboundStatus.QUEUED)
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.API)
    port: Mapped[int] = mapped_column(SmallInteger)
    template_key: Mapped[Optional[str]] = mapped_column(String(30))
    # Who asked for it: an API key's name, "system" for auto-replies, a user later.
    caller: Mapped[Optional[str]] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[Optional[str]] = mapped_column(String(500))
    # Not to be sent before this time (scheduled campaigns); None = as soon as possible.
    not_before: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # When a sender may next take it (max of not_before and the retry backoff).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While SENDING: when the claim lapses if its sender died.
    lease_expires_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    gateway_sms_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    # For an auto-reply, the inbound SMS it answers: unique, so an SMS is answered once.
    reply_to_sms_id: Mapped[Optional[int]] = mapped_column(ForeignKey("inbound_sms.id"), unique=True)
    # For a campaign message: its batch and the recipient's customer id.
    campaign_batch_id: Mapped[Optional[int]] = mapped_column(ForeignKey("campaign_batch.id"), index=True)
    customer_id: Mapped[Optional[str]] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    @property
    def client_ref(self) -> str:
        """Our id as the gateway sees it: a retry with the same ref is never sent twice."""
        return f"roko-out-{self.id}"

    def __repr__(self) -> str:
        return f"<OutboundSms {self.id} {self.status} to={self.to_msisdn}>"
