"""The lucky draw: the code registry, the farmers taking part, and their entries."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class Outcome(enum.StrEnum):
    """How an inbound SMS was classified; also the key of its reply template."""

    VALID_FIRST = "VALID_FIRST"
    VALID_AGAIN = "VALID_AGAIN"
    DUPLICATE = "DUPLICATE"
    ALREADY_USED = "ALREADY_USED"
    INVALID_CODE = "INVALID_CODE"
    BAD_FORMAT = "BAD_FORMAT"
    CAMPAIGN_CLOSED = "CAMPAIGN_CLOSED"
    CAMPAIGN_NOT_STARTED = "CAMPAIGN_NOT_STARTED"
    BLOCKED = "BLOCKED"
    OPT_OUT = "OPT_OUT"
    OPT_IN = "OPT_IN"


VALID_OUTCOMES = (Outcome.VALID_FIRST, Outcome.VALID_AGAIN)
# Attempts that count towards blocking a number (guessing codes).
FAILED_OUTCOMES = (Outcome.INVALID_CODE, Outcome.ALREADY_USED)


class Code(db.Model):
    """A code printed on a bag. Stored as a keyed hash (HMAC with ``ROKO_CODE_KEY``), so a
    copy of the database does not reveal unused codes; the clear code is kept only once
    it is used (on the entry that used it)."""

    __tablename__ = "code"
    __table_args__ = (Index("ix_code_batch_used", "batch", "used_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    batch: Mapped[str] = mapped_column(String(64))
    # Optional columns of the import file (product, region, ...), verbatim.
    attributes: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_by: Mapped[Optional[str]] = mapped_column(String(20), index=True)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class Participant(db.Model):
    """A phone number that texted the campaign: its opt-out and blocking state.

    Classifying an SMS locks this row, so two SMS from one number are classified one
    after the other (chance counts and blocking stay exact)."""

    __tablename__ = "participant"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # The normalised 9-digit number for Guinea mobiles, else the sender as received.
    msisdn: Mapped[str] = mapped_column(String(20), unique=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_entries: Mapped[int] = mapped_column(Integer, default=0)
    opted_out_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    blocked_until: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Set when the "you are blocked" reply went out for the current block: then silence.
    block_notified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class Entry(db.Model):
    """The classification of one inbound SMS (exactly one per SMS)."""

    __tablename__ = "entry"
    __table_args__ = (
        Index("ix_entry_created", "created_at", "id"),
        Index("ix_entry_outcome_created", "outcome", "created_at", "id"),
        Index("ix_entry_msisdn_created", "msisdn", "created_at", "id"),
        Index("ix_entry_code", "code"),
        # A number's recent entries: the blocking rule counts its failures in a window.
        # (With only ``outcome, created_at`` SQLite scanned every failure of the day.)
        Index("ix_entry_participant_created", "participant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    sms_id: Mapped[int] = mapped_column(ForeignKey("inbound_sms.id"), unique=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    msisdn: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(24))
    # The code as parsed (U + 8 digits) for outcomes about a code; None otherwise.
    code: Mapped[Optional[str]] = mapped_column(String(9))
    code_id: Mapped[Optional[int]] = mapped_column(ForeignKey("code.id"))
    # The sender's valid entries (chances) after this one.
    chances: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyTemplate(db.Model):
    """The French reply for one outcome; must fit one SMS once its placeholders are filled."""

    __tablename__ = "reply_template"

    key: Mapped[str] = mapped_column(String(30), primary_key=True)
    text: Mapped[str] = mapped_column(String(1600))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[Optional[str]] = mapped_column(String(120))
