"""Inbound SMS as received from the gateway, and replays that disagreed with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db

_UNCLASSIFIED = text("classified_at IS NULL")


class InboundSms(db.Model):
    """One SMS received on a SIM port; unique on the gateway's ``(gateway_sms_id, port)``.

    The webhook stores it; the worker classifies it later (``classified_at``). A
    classification that raises is retried after ``classify_after``, and after a few
    failures the SMS is parked (``parked_at``) until an operator asks for another try."""

    __tablename__ = "inbound_sms"
    __table_args__ = (
        UniqueConstraint("gateway_sms_id", "port", name="uq_inbound_sms_gateway_sms_id_port"),
        Index("ix_inbound_sms_received_at", "received_at"),
        Index("ix_inbound_sms_sender_msisdn", "sender_msisdn"),
        # The classifier's queue: only the SMS still to classify, in arrival order.
        Index("ix_inbound_sms_unclassified", "id", postgresql_where=_UNCLASSIFIED, sqlite_where=_UNCLASSIFIED),
        # A sender that is not a Guinea mobile is its own participant key; the classifier
        # looks up its earlier SMS by it (Guinea numbers use ix_inbound_sms_sender_msisdn).
        Index("ix_inbound_sms_foreign_sender", "sender", postgresql_where=text("sender_msisdn IS NULL"),
              sqlite_where=text("sender_msisdn IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    gateway_sms_id: Mapped[int] = mapped_column(BigInteger)
    port: Mapped[int] = mapped_column(SmallInteger)
    # As received (``^[0-9+]{6,20}$``) and, when it is a Guinea mobile, its 9-digit form.
    sender: Mapped[str] = mapped_column(String(20))
    sender_msisdn: Mapped[Optional[str]] = mapped_column(String(9))
    # The raw text, untouched.
    text: Mapped[str] = mapped_column(Text)
    # When the gateway received it (its clock), and when we stored it (ours).
    gateway_timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    source: Mapped[str] = mapped_column(String(30))
    # Classification by the worker: when it was done; failed tries, the last error, when
    # to try again, and when it was parked for an operator.
    classified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    classify_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    classify_error: Mapped[Optional[str]] = mapped_column(String(500))
    classify_after: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    parked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    discrepancies: Mapped[list[InboundDiscrepancy]] = relationship(
        back_populates="sms", order_by="InboundDiscrepancy.id", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<InboundSms {self.id} gw={self.gateway_sms_id} port={self.port}>"


class InboundDiscrepancy(db.Model):
    """A replay of an already stored SMS whose content differed from the stored row.

    The stored row is kept as it was; each distinct differing payload is recorded once
    so an operator can see what the gateway sent the second time.
    """

    __tablename__ = "inbound_discrepancy"
    __table_args__ = (UniqueConstraint("sms_id", "payload_hash", name="uq_inbound_discrepancy_sms_id_payload_hash"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    sms_id: Mapped[int] = mapped_column(ForeignKey("inbound_sms.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Names of the fields that differ, and the replay's values of the compared fields.
    fields: Mapped[list[str]] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(String(64))

    sms: Mapped[InboundSms] = relationship(back_populates="discrepancies")
