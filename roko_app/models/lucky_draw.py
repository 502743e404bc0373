"""A lucky draw (``roko-draw-v1``): its commitment and randomness source, the frozen
entry list, its prize tiers, exclusions, ranked picks (winners and alternates) and the
timeline of everything done to it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class DrawState(enum.StrEnum):
    OPEN = "OPEN"  # created: taking entries until ``window_until``
    CLOSED = "CLOSED"  # entry list frozen and hashed, waiting for the beacon
    RUN = "RUN"  # winners and alternates picked (once, for good)


class PickState(enum.StrEnum):
    RESERVE = "reserve"  # an alternate not (yet) needed
    NOTIFIED = "notified"  # holds a prize; the WINNER SMS is queued
    CLAIMED = "claimed"  # prize handed over
    FORFEITED = "forfeited"  # prize lost (deadline passed or refused); passed to the next alternate


class LuckyDraw(db.Model):
    __tablename__ = "lucky_draw"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # The public identifier (URL, draw.json, the algorithm's input): ASCII.
    draw_id: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default=DrawState.OPEN.value)
    window_from: Mapped[datetime] = mapped_column(UTCDateTime)
    window_until: Mapped[datetime] = mapped_column(UTCDateTime)
    alternates_wanted: Mapped[int] = mapped_column(Integer)
    exclude_previous_winners: Mapped[bool] = mapped_column(Boolean, default=False)
    # The randomness source, fixed at creation: "drand-quicknet" | "drand-mainnet" | "manual".
    beacon_source: Mapped[str] = mapped_column(String(20))
    beacon_round: Mapped[Optional[int]] = mapped_column(BigInteger)
    beacon_planned_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    beacon_description: Mapped[Optional[str]] = mapped_column(String(500))
    # 32 random bytes (hex), secret until the run; the commitment is sha256(seed).
    seed_hex: Mapped[str] = mapped_column(String(64), deferred=True)
    commitment: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254))
    # Close: the frozen entry list (entries.csv bytes), its hash and counts; exclusions.csv.
    closed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    entries_csv: Mapped[Optional[bytes]] = mapped_column(LargeBinary, deferred=True)
    exclusions_csv: Mapped[Optional[str]] = mapped_column(Text, deferred=True)
    entries_sha256: Mapped[Optional[str]] = mapped_column(String(64))
    entries_count: Mapped[Optional[int]] = mapped_column(Integer)
    participants_count: Mapped[Optional[int]] = mapped_column(Integer)
    # Run: the beacon as supplied and checked.
    run_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    beacon_signature: Mapped[Optional[str]] = mapped_column(String(192))
    beacon_previous_signature: Mapped[Optional[str]] = mapped_column(String(192))
    beacon_value: Mapped[Optional[str]] = mapped_column(String(500))
    beacon_randomness: Mapped[Optional[str]] = mapped_column(String(64))

    prizes: Mapped[list[LuckyDrawPrize]] = relationship(order_by="LuckyDrawPrize.tier", cascade="all, delete-orphan")
    exclusions: Mapped[list[LuckyDrawExclusion]] = relationship(order_by="LuckyDrawExclusion.id",
                                                                cascade="all, delete-orphan")
    picks: Mapped[list[LuckyDrawPick]] = relationship(order_by="LuckyDrawPick.rank", cascade="all, delete-orphan")
    events: Mapped[list[LuckyDrawEvent]] = relationship(order_by="LuckyDrawEvent.id", cascade="all, delete-orphan")


class LuckyDrawPrize(db.Model):
    """One prize tier: ``count`` identical prizes; tier 1 is awarded first."""

    __tablename__ = "lucky_draw_prize"
    __table_args__ = (UniqueConstraint("draw_id", "tier"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"), index=True)
    tier: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    count: Mapped[int] = mapped_column(Integer)


class LuckyDrawExclusion(db.Model):
    """A number left out of the draw, with the reason (staff, distributor, earlier winner)."""

    __tablename__ = "lucky_draw_exclusion"
    __table_args__ = (UniqueConstraint("draw_id", "msisdn"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"), index=True)
    msisdn: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200))


class LuckyDrawPick(db.Model):
    """A participant taken by the algorithm: ``rank`` over winners then alternates.

    Winners hold a ``tier`` from the run; an alternate (``alternate_rank``) gets one when
    promoted to replace a forfeited prize (``replaces_id``). Rows are never deleted."""

    __tablename__ = "lucky_draw_pick"
    __table_args__ = (
        UniqueConstraint("draw_id", "rank"),
        UniqueConstraint("draw_id", "entry_id"),
        Index("ix_lucky_draw_pick_participant", "participant_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"))
    rank: Mapped[int] = mapped_column(Integer)
    entry_id: Mapped[int] = mapped_column(ForeignKey("entry.id"))
    participant_id: Mapped[int] = mapped_column(ForeignKey("participant.id"))
    msisdn: Mapped[str] = mapped_column(String(20))
    # The tier the algorithm gave (winners); None for alternates.
    drawn_tier: Mapped[Optional[int]] = mapped_column(Integer)
    alternate_rank: Mapped[Optional[int]] = mapped_column(Integer)
    # The tier this pick holds or held (a promoted alternate's is set when promoted).
    tier: Mapped[Optional[int]] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12))
    replaces_id: Mapped[Optional[int]] = mapped_column(ForeignKey("lucky_draw_pick.id"))
    notified_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # The last moment to claim the prize (set when notified); after it the prize is forfeited.
    claim_deadline: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    outbound_sms_id: Mapped[Optional[int]] = mapped_column(ForeignKey("outbound_sms.id"))
    claimed_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    forfeited_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    forfeit_reason: Mapped[Optional[str]] = mapped_column(String(500))


class LuckyDrawEvent(db.Model):
    """The draw's timeline: who did what and when (never edited, never deleted)."""

    __tablename__ = "lucky_draw_event"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("lucky_draw.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(40))
    details: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
