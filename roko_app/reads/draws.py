"""Lucky draws as they are read: the public page of a draw (commitment, source, hashes,
masked winners, what stays unawarded), an entrant's check of their own participation,
and the console's list and detail of draws."""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from roko_app.draws import drand
from roko_app.extensions import db
from roko_app.models import Entry
from roko_app.models.draw import VALID_OUTCOMES
from roko_app.models.lucky_draw import DrawState, LuckyDraw, LuckyDrawEvent, LuckyDrawPick
from roko_app.services.draws import MANUAL, mask, unawarded

# The command an auditor runs on the bundle (python3 verify_draw.py DIR, or through the app).
VERIFY_COMMAND = "python3 verify_draw.py ."
DRAND_API = "https://api.drand.sh"


@dataclass(frozen=True, slots=True)
class PublicPick:
    """A winner or alternate as published: masked number, never the full one."""

    rank: int
    entry_id: int
    participant_id: int
    msisdn_masked: str
    state: str
    tier: int | None
    prize: str | None
    alternate_rank: int | None
    claim_deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Unawarded:
    tier: int
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class PublicDraw:
    draw: LuckyDraw
    winners: list[PublicPick]
    alternates: list[PublicPick]
    unawarded: list[Unawarded]
    seed: str | None  # published only once the draw has run
    beacon_url: str | None  # where anyone can fetch the drand round

    @property
    def closed(self) -> bool:
        return self.draw.state != DrawState.OPEN

    @property
    def ran(self) -> bool:
        return self.draw.state == DrawState.RUN

    @property
    def manual(self) -> bool:
        return self.draw.beacon_source == MANUAL


def find_draw(draw_id: str) -> LuckyDraw | None:
    if not draw_id.isascii() or len(draw_id) > 40:
        return None
    return db.session.scalars(select(LuckyDraw).where(LuckyDraw.draw_id == draw_id)).one_or_none()


def public_draw(draw_id: str) -> PublicDraw | None:
    """What ``GET /draws/<draw_id>`` shows, or None for an unknown draw."""
    draw = find_draw(draw_id)
    if draw is None:
        return None
    prizes = {prize.tier: prize.name for prize in draw.prizes}

    def public(pick: LuckyDrawPick) -> PublicPick:
        return PublicPick(rank=pick.rank, entry_id=pick.entry_id, participant_id=pick.participant_id,
                          msisdn_masked=mask(pick.msisdn), state=pick.state, tier=pick.tier,
                          prize=prizes.get(pick.tier) if pick.tier is not None else None,
                          alternate_rank=pick.alternate_rank, claim_deadline=pick.claim_deadline)

    ran = draw.state == DrawState.RUN
    beacon_url = None
    if draw.beacon_source in drand.NETWORKS and draw.beacon_round is not None:
        beacon_url = f"{DRAND_API}/{drand.NETWORKS[draw.beacon_source].chain_hash}/public/{draw.beacon_round}"
    return PublicDraw(
        draw=draw,
        winners=[public(p) for p in draw.picks if p.drawn_tier is not None],
        alternates=[public(p) for p in draw.picks if p.alternate_rank is not None],
        unawarded=[Unawarded(**prize) for prize in unawarded(draw)] if ran else [],
        seed=draw.seed_hex if ran else None,
        beacon_url=beacon_url,
    )


# --- the entrant's self-check --------------------------------------------------------

class CheckAnswer(enum.StrEnum):
    NOT_FROZEN = "not_frozen"  # the draw is still open: no list to check against yet
    NOT_FOUND = "not_found"  # no valid entry of this number with this code (or no such number)
    NOT_IN_LIST = "not_in_list"  # the number and code match, but none of its entries is in the list
    ENTERED = "entered"  # the number has entries in the frozen list


@dataclass(frozen=True, slots=True)
class CheckResult:
    answer: CheckAnswer
    entries: int = 0
    participant_id: int | None = None
    picks: list[PublicPick] = field(default_factory=list)


def check_participation(draw: LuckyDraw, msisdn: str, code: str) -> CheckResult:
    """Whether the number that sent ``code`` (a valid entry of theirs, anywhere in the
    campaign) has entries in this draw's frozen list, and what it won.

    The number and the code are looked up together, so a wrong code, someone else's code
    and an unknown number give the same answer; nothing about another number is read."""
    if draw.state == DrawState.OPEN:
        return CheckResult(CheckAnswer.NOT_FROZEN)
    rows = db.session.execute(
        select(Entry.participant_id, Entry.msisdn)
        .where(Entry.code == code, Entry.outcome.in_([str(o) for o in VALID_OUTCOMES]))
        .limit(5)
    ).all()
    participant_id = None
    for candidate, number in rows:
        if hmac.compare_digest(number.encode(), msisdn.encode()):
            participant_id = candidate
    if participant_id is None:
        return CheckResult(CheckAnswer.NOT_FOUND)
    frozen = db.session.scalar(select(LuckyDraw.entries_csv).where(LuckyDraw.id == draw.id)) or b""
    # Each line is "entry_id,participant_id\n": ",<id>\n" matches that participant's lines only.
    count = frozen.count(f",{participant_id}\n".encode("ascii"))
    if count == 0:
        return CheckResult(CheckAnswer.NOT_IN_LIST)
    published = public_draw(draw.draw_id)
    assert published is not None
    mine = [pick for pick in published.winners + published.alternates if pick.participant_id == participant_id]
    return CheckResult(CheckAnswer.ENTERED, entries=count, participant_id=participant_id, picks=mine)


# --- the console ---------------------------------------------------------------------

def draw_list() -> list[LuckyDraw]:
    """Every draw, newest first (a campaign holds a handful)."""
    return list(db.session.scalars(select(LuckyDraw).order_by(LuckyDraw.created_at.desc(), LuckyDraw.id.desc())))


@dataclass(frozen=True, slots=True)
class DrawDetail:
    public: PublicDraw
    picks: list[LuckyDrawPick]  # the full numbers: operators call the winners
    events: list[LuckyDrawEvent]
    prize_names: dict[int, str]

    @property
    def draw(self) -> LuckyDraw:
        return self.public.draw


def draw_detail(draw_id: str) -> DrawDetail | None:
    published = public_draw(draw_id)
    if published is None:
        return None
    draw = published.draw
    return DrawDetail(public=published, picks=list(draw.picks), events=list(draw.events),
                      prize_names={prize.tier: prize.name for prize in draw.prizes})

