"""Optimove campaign batches: the batch (with its metadata kept as received) and the
recipients refused at intake. Accepted recipients are outbox rows of the batch."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class CampaignBatch(db.Model):
    __tablename__ = "campaign_batch"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # What identifies a replay: "batch:<batchId>", else "request:<requestId>", else
    # "engagement:<engagementId>", else "body:<hash>".
    batch_key: Mapped[str] = mapped_column(String(255), unique=True)
    batch_id: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[Optional[str]] = mapped_column(String(200))
    engagement_id: Mapped[Optional[str]] = mapped_column(String(200))
    campaign_id: Mapped[Optional[str]] = mapped_column(String(200), index=True)
    sender_id: Mapped[Optional[str]] = mapped_column(String(64))
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The whole metadata object as received (echoed back in delivery reports later).
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    # SHA-256 of the canonical JSON of the body: the same id with another body is a conflict.
    body_hash: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    cancelled_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[Optional[str]] = mapped_column(String(254))


class CampaignRejection(db.Model):
    """A recipient of a batch that was not queued, and why (e.g. OPTED_OUT)."""

    __tablename__ = "campaign_rejection"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("campaign_batch.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # index in recipients[]
    customer_id: Mapped[Optional[str]] = mapped_column(String(200))
    mobile_number: Mapped[Optional[str]] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[Optional[str]] = mapped_column(String(300))
    #: ``detail``'s parameters, for the console's own words: ``{"problem": "wrong_length"}`` for a bad
    #: number, ``{"units": 171, "encoding": "GSM-7", "limit": 160}`` for a long text; NULL before 2026-11-26.
    params: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON(none_as_null=True))
