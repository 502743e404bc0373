"""The outbox: every SMS we send is a row first, then dispatched through the gateway."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class OutboundStatus(enum.StrEnum):
    """A message's life (docs/topaz-gateway.md §4): QUEUED → SENDING → SENT → DELIVERED |
    UNDELIVERED | EXPIRED, only ever forward; FAILED, UNCERTAIN and CANCELLED beside it."""

    QUEUED = "QUEUED"  # waiting for its time (next_attempt_at) and a worker
    SENDING = "SENDING"  # claimed by a sender until lease_expires_at
    SENT = "SENT"  # the gateway accepted it (gateway_sms_id); its delivery report is awaited
    DELIVERED = "DELIVERED"  # the gateway reported it delivered to the phone
    UNDELIVERED = "UNDELIVERED"  # the gateway reported that it could not be delivered
    EXPIRED = "EXPIRED"  # the gateway reported that its validity ran out before delivery
    # SENT, and no report came within DLR_EXPIRY_HOURS: delivery unknown (a late report still applies).
    UNREPORTED = "UNREPORTED"
    FAILED = "FAILED"  # never accepted by the gateway (rejected, or out of attempts): the dead letter
    # Out of attempts, but an earlier attempt may have gone out and the gateway could not be
    # asked: delivery unknown, to be checked (a report, the worker's status query or an operator).
    UNCERTAIN = "UNCERTAIN"
    # Withdrawn before it was sent: by an operator (campaign batches), or when claimed because
    # its number opted out since it was queued (last_error CANCELLED_OPTED_OUT).
    CANCELLED = "CANCELLED"


#: The gateway's final word on a message: a report never changes these.
FINAL_STATUSES = frozenset({OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, OutboundStatus.EXPIRED})
#: Where a delivery report may take a message (anything the gateway may have sent, not final yet).
REPORTABLE_STATUSES = frozenset({OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.SENT,
                                 OutboundStatus.UNREPORTED, OutboundStatus.UNCERTAIN, OutboundStatus.FAILED})


class Purpose(enum.StrEnum):
    """Why a message goes out, which decides whether an opted-out number may get it
    (the rule: :func:`roko_app.services.outbound.consent_allows`)."""

    REPLY = "REPLY"  # the answer to the number's own SMS (reply_to_sms_id)
    WINNER_NOTICE = "WINNER_NOTICE"  # a lucky draw's winner notice
    OPERATOR = "OPERATOR"  # the send API, the console's compose
    CAMPAIGN = "CAMPAIGN"  # Optimove batches


#: ``last_error`` of a message cancelled at send time because its number opted out
#: (a problem code: the console words it).
CANCELLED_OPTED_OUT = "CANCELLED_OPTED_OUT"


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
        # The sweep that turns SENT without a report into UNREPORTED.
        Index("ix_outbound_sms_status_sent", "status", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    to_msisdn: Mapped[str] = mapped_column(String(9))
    text: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(5))
    units: Mapped[int] = mapped_column(SmallInteger)
    # 12 characters for UNDELIVERED; SQLite's column stays VARCHAR(10) (it enforces no
    # length, and widening it would need batch mode on a table others reference).
    status: Mapped[str] = mapped_column(String(12).with_variant(String(10), "sqlite"), default=OutboundStatus.QUEUED)
    priority: Mapped[int] = mapped_column(SmallInteger, default=Priority.API)
    port: Mapped[int] = mapped_column(SmallInteger)
    template_key: Mapped[Optional[str]] = mapped_column(String(30))
    # Who asked for it: an API key's name, "system" for auto-replies, a user later.
    caller: Mapped[Optional[str]] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Why it is sent (Purpose): checked against the recipient's consent when it is claimed.
    # A row written without one is an operator's message, which an opted-out number never gets.
    purpose: Mapped[str] = mapped_column(String(16), default=Purpose.OPERATOR, server_default=Purpose.OPERATOR.value)
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
    # Delivery (docs/topaz-gateway.md §4): when the gateway says the final status happened,
    # and its reason for a failure.
    delivered_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    delivery_reason: Mapped[Optional[str]] = mapped_column(String(200))
    # An attempt may have reached the gateway without our knowing (a lapsed lease, a read
    # timeout): before giving up, the worker asks the gateway instead of recording FAILED.
    maybe_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A campaign message: the status last reported to Optimove (docs/optimove.md), None before.
    optimove_reported: Mapped[Optional[str]] = mapped_column(String(12))

    @property
    def client_ref(self) -> str:
        """Our id as the gateway sees it: a retry with the same ref is never sent twice."""
        return f"roko-out-{self.id}"

    def __repr__(self) -> str:
        return f"<OutboundSms {self.id} {self.status} to={self.to_msisdn}>"


class DeliveryReport(db.Model):
    """Every delivery report the gateway posted, applied or not (unknown ``client_ref``,
    a replay, a message already final): what the gateway said, as it said it."""

    __tablename__ = "delivery_report"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    client_ref: Mapped[str] = mapped_column(String(64))
    # Our message, when the client_ref names one.
    outbound_sms_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outbound_sms.id"), index=True)
    gateway_sms_id: Mapped[Optional[int]] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # delivered | failed | expired
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[Optional[str]] = mapped_column(String(200))
    # Whether it moved the message (False: unknown message, replay, already final).
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
