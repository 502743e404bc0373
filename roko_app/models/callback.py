"""The callbacks outbox: every call we make to Optimove is a row first, sent by the worker."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Optional

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class CallbackState(enum.StrEnum):
    PENDING = "PENDING"  # to send at next_attempt_at (retried with backoff on 429, 5xx, network errors)
    SENT = "SENT"  # Optimove answered 2xx
    DEAD = "DEAD"  # Optimove refused it (another 4xx): the dead letter, retried by hand
    # never sent, and never to be: a later call says the same thing anew (a message's newer
    # delivery report, a newer handshake), so sending this one after it would undo it
    SUPERSEDED = "SUPERSEDED"


class OptimoveCallback(db.Model):
    __tablename__ = "optimove_callback"
    __table_args__ = (Index("ix_optimove_callback_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # delivery-report | incoming-message | handshake
    # One per report: "dlr:<outbound id>:<status>", "mo:<inbound id>", "handshake:<time>".
    idempotency_key: Mapped[str] = mapped_column(String(100), unique=True)
    # The exact JSON text sent (and signed), the same on every attempt.
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default=CallbackState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[Optional[int]] = mapped_column(SmallInteger)
    last_error: Mapped[Optional[str]] = mapped_column(String(300))
    outbound_sms_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outbound_sms.id"), index=True)
    inbound_sms_id: Mapped[Optional[int]] = mapped_column(ForeignKey("inbound_sms.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
