"""Lucky draws (issue 11): create with a committed seed, close freezing the entry list,
run once from a verified beacon, claim and forfeit prizes (alternates promoted), and
the published record (draw.json). Never commits; raises domain errors."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import logging
import operator
import secrets
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from roko_app.configuration import CAMPAIGN_TZ, PROJECT_ROOT
from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.draws import algorithm, drand, fetch
from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, Participant, Priority
from roko_app.models.draw import VALID_OUTCOMES
from roko_app.models.lucky_draw import (
    DrawState,
    LuckyDraw,
    LuckyDrawEvent,
    LuckyDrawExclusion,
    LuckyDrawPick,
    LuckyDrawPrize,
    PickState,
)
from roko_app.services import outbound, replies
from roko_app.services.errors import DomainError, InvalidInput, NotFound
from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn

log = logging.getLogger(__name__)

MANUAL = "manual"
SOURCES = (drand.QUICKNET.source, drand.MAINNET.source, MANUAL)
# A drand round chosen for the operator: the first one published this long after ``until``.
DEFAULT_BEACON_DELAY = timedelta(hours=1)
WINNER_TEMPLATE = replies.WINNER
DEFAULT_CLAIM_DAYS = 30
# The reason given when expire_claims forfeits a prize nobody claimed in time.
DEADLINE_PASSED = "délai dépassé"


class DrawOutOfOrder(DomainError):
    """The step does not fit the draw's state or time (close before ``until``, run twice, ...)."""

    code = "DRAW_OUT_OF_ORDER"


class BeaconRefused(DomainError):
    """The beacon value does not verify, or was published too early."""

    code = "BEACON_REFUSED"


class NoEligibleEntries(DomainError):
    code = "NO_ELIGIBLE_ENTRIES"


#: The longest a draw's name, a public value's description and the value itself may be
#: (their columns), and the most winners one prize may have.
NAME_MAX, DESCRIPTION_MAX, VALUE_MAX = 200, 500, 500
PRIZE_COUNT_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Beacon:
    """The randomness source fixed at creation."""

    source: str
    round: int | None = None
    description: str | None = None


def parse_beacon(text: str | None) -> Beacon:
    """``drand-quicknet[:ROUND]``, ``drand-mainnet[:ROUND]`` or ``manual:DESCRIPTION``; default quicknet."""
    if not text:
        return Beacon(drand.QUICKNET.source)
    source, _, rest = text.partition(":")
    if source == MANUAL:
        if not rest.strip():
            raise InvalidInput("beacon", "A manual beacon needs a description, e.g. manual:\"the LONAGUI numbers "
                                         "of 1 June\".", problem="DRAW_BEACON_DESCRIPTION_MISSING")
        return Beacon(MANUAL, description=rest.strip())
    if source not in drand.NETWORKS:
        raise InvalidInput("beacon", f"Unknown beacon source {source!r}: use drand-quicknet, drand-mainnet or manual.",
                           problem="DRAW_BEACON_UNKNOWN_SOURCE", value=source)
    if not rest:
        return Beacon(source)
    if not rest.isdigit() or int(rest) < 1:
        raise InvalidInput("beacon", f"The drand round must be a positive whole number, got {rest!r}.",
                           problem="DRAW_BEACON_BAD_ROUND", value=rest)
    return Beacon(source, round=int(rest))


def parse_prize(text: str) -> tuple[str, int]:
    """``NAME:COUNT`` (the name may contain colons; the count follows the last one)."""
    name, _, count = text.rpartition(":")
    if not name.strip() or not count.isdigit() or int(count) < 1:
        raise InvalidInput("prize", f"A prize is NAME:COUNT with a count of at least 1, got {text!r}.",
                           problem="DRAW_PRIZE_FORMAT", value=text)
    return name.strip(), int(count)


def _check_prize_name(name: str) -> None:
    if len(name.strip()) > replies.PRIZE_NAME_MAX:
        raise InvalidInput("prize", f"A prize name has at most {replies.PRIZE_NAME_MAX} characters (it goes into the "
                                    f"winner's SMS): {name.strip()!r} is too long.",
                           problem="DRAW_PRIZE_NAME_TOO_LONG", name=name.strip(), max=replies.PRIZE_NAME_MAX)


def read_exclusions(stream: Iterable[str], *, first_line: int = 2) -> list[tuple[str, str]]:
    """``(msisdn, reason)`` from a CSV with a ``msisdn`` column and an optional ``reason`` column;
    ``first_line`` is the number a refusal gives the first row under the header (the
    console's form has no header line of its own)."""
    reader = csv.DictReader(stream)
    if not reader.fieldnames or "msisdn" not in [name.strip() for name in reader.fieldnames]:
        raise InvalidInput("exclude_file", "The exclusion file needs a 'msisdn' column.",
                           problem="DRAW_EXCLUSIONS_NO_MSISDN_COLUMN", column="msisdn")
    rows = []
    for line, row in enumerate(reader, start=first_line):
        # fields past the header's (a reason written with commas in it) belong to the reason
        extra = row.pop(None, None) or []  # type: ignore[call-overload]
        values = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        reason = ",".join([values.get("reason", ""), *extra]).strip(" ,") if extra else values.get("reason", "")
        rows.append(_exclusion(line, values.get("msisdn", ""), reason))
    return rows


def read_exclusion_lines(lines: Iterable[str], *, first_line: int = 1) -> list[tuple[str, str]]:
    """``(msisdn, reason)`` from lines typed as ``NUMBER,reason`` (the console's form): the
    number up to the first comma, the reason all the rest, as typed (quotes and commas
    included: no CSV quoting, so a stray quote cannot swallow the following lines)."""
    rows = []
    for line, text in enumerate(lines, start=first_line):
        if text.strip():
            number, _comma, reason = text.partition(",")
            rows.append(_exclusion(line, number, reason))
    return rows


def _exclusion(line: int, number: str, reason: str) -> tuple[str, str]:
    try:
        msisdn = normalize_msisdn(number.strip())
    except InvalidMsisdn as exc:
        raise InvalidInput("exclude_file", f"Exclusion file line {line}: {exc}",
                           problem="DRAW_EXCLUSIONS_BAD_NUMBER", line=line, value=number.strip()) from None
    return msisdn, reason.strip() or "excluded"


def mask(msisdn: str) -> str:
    """``62•••••78``: the first two and last two digits."""
    if len(msisdn) <= 4:
        return "•" * len(msisdn)
    return msisdn[:2] + "•" * (len(msisdn) - 4) + msisdn[-2:]


def _event(draw: LuckyDraw, actor: str, action: str, now: datetime, **details: Any) -> None:
    db.session.add(LuckyDrawEvent(draw_id=draw.id, at=now, actor=actor, action=action, details=details or None))


def create_draw(*, name: str, window_from: datetime, window_until: datetime, prizes: Sequence[tuple[str, int]],
                alternates: int, beacon: Beacon, actor: str, exclude_previous_winners: bool = False,
                exclusions: Sequence[tuple[str, str]] = (), now: datetime | None = None) -> LuckyDraw:
    now = now or utcnow()
    if not name.strip():
        raise InvalidInput("name", "The draw needs a name.", problem="DRAW_NAME_MISSING")
    if len(name.strip()) > NAME_MAX:
        raise InvalidInput("name", f"A draw's name has at most {NAME_MAX} characters.", problem="DRAW_NAME_TOO_LONG",
                           max=NAME_MAX)
    if beacon.description is not None and len(beacon.description) > DESCRIPTION_MAX:
        raise InvalidInput("beacon", f"A public value's description has at most {DESCRIPTION_MAX} characters.",
                           problem="DRAW_BEACON_DESCRIPTION_TOO_LONG", max=DESCRIPTION_MAX)
    if window_from.tzinfo is None or window_until.tzinfo is None:
        raise InvalidInput("window", "The entry window needs time zones.", problem="DRAW_WINDOW_NO_TIME_ZONE")
    if window_until <= window_from:
        raise InvalidInput("until", "The window's end must come after its start.", problem="DRAW_WINDOW_ORDER",
                           window_from=window_from, window_until=window_until)
    if not prizes:
        raise InvalidInput("prize", "A draw needs at least one prize.", problem="DRAW_NO_PRIZE")
    for prize, count in prizes:
        _check_prize_name(prize)
        if not prize.strip() or not 1 <= count <= PRIZE_COUNT_MAX:
            raise InvalidInput("prize", f"A prize needs a name and a count of 1 to {PRIZE_COUNT_MAX}, got {prize!r}: "
                                        f"{count}.", problem="DRAW_PRIZE_COUNT", name=prize, count=count,
                               max=PRIZE_COUNT_MAX)
    if alternates < 0:
        raise InvalidInput("alternates", "The number of alternates cannot be negative.",
                           problem="DRAW_ALTERNATES_NEGATIVE", count=alternates)
    if beacon.source == MANUAL and window_until <= now:
        # The public value may be known already, and so is every entry: whoever runs the
        # draw could choose the window (or the value) that makes a winner.
        raise BeaconRefused(f"The entry window ended on {window_until.isoformat()}: a draw whose randomness is a "
                            f"public value is created before its window ends.", problem="DRAW_WINDOW_OVER",
                            window_until=window_until)
    round_number = beacon.round
    planned_at = None
    if beacon.source in drand.NETWORKS:
        network = drand.NETWORKS[beacon.source]
        if round_number is None:
            round_number = drand.first_round_at_or_after(network, max(window_until, now) + DEFAULT_BEACON_DELAY)
        planned_at = drand.round_time(network, round_number)
        if planned_at < window_until:
            raise BeaconRefused(f"drand round {round_number} is published at {planned_at.isoformat()}, before the "
                                f"window ends ({window_until.isoformat()}): choose a later round.",
                                problem="DRAW_ROUND_BEFORE_WINDOW_END", round=round_number, published_at=planned_at,
                                window_until=window_until)
        if planned_at <= now:
            raise BeaconRefused(f"drand round {round_number} was already published at {planned_at.isoformat()}: "
                                f"choose a future round.", problem="DRAW_ROUND_ALREADY_PUBLISHED",
                                round=round_number, published_at=planned_at)
    seed = secrets.token_bytes(32)
    draw = LuckyDraw(
        draw_id=_new_draw_id(now), name=name.strip(), state=DrawState.OPEN.value,
        window_from=window_from.astimezone(UTC), window_until=window_until.astimezone(UTC),
        alternates_wanted=alternates, exclude_previous_winners=exclude_previous_winners,
        beacon_source=beacon.source, beacon_round=round_number, beacon_planned_at=planned_at,
        beacon_description=beacon.description, seed_hex=seed.hex(), commitment=algorithm.commitment(seed),
        created_at=now, created_by=actor,
    )
    draw.prizes = [LuckyDrawPrize(tier=tier, name=prize, count=count)
                   for tier, (prize, count) in enumerate(prizes, start=1)]
    seen: set[str] = set()
    for msisdn, reason in exclusions:
        if msisdn not in seen:
            seen.add(msisdn)
            draw.exclusions.append(LuckyDrawExclusion(msisdn=msisdn, reason=reason[:200]))
    db.session.add(draw)
    db.session.flush()
    _event(draw, actor, "created", now, commitment=draw.commitment, source=beacon.source, round=round_number,
           description=beacon.description, exclusions=len(seen))
    log.info("draw %s created by %s", draw.draw_id, actor)
    return draw


def _new_draw_id(now: datetime) -> str:
    while True:
        candidate = f"{now:%Y%m%d}-{secrets.token_hex(3).upper()}"
        if db.session.scalar(select(LuckyDraw.id).where(LuckyDraw.draw_id == candidate)) is None:
            return candidate


def get_draw(draw_id: str, *, for_update: bool = False) -> LuckyDraw:
    """The draw; ``for_update``: locked until the transaction ends, for a step that
    changes it (close, run, claim, forfeit), so two steps at once take turns: two
    forfeits cannot both promote the same alternate (PostgreSQL: ``FOR UPDATE`` on the
    draw's row, its picks read after the lock; SQLite: the database's write lock)."""
    statement = select(LuckyDraw).where(LuckyDraw.draw_id == draw_id)
    if for_update:
        begin_write(db.session)
        statement = statement.with_for_update().execution_options(populate_existing=True)
    draw = db.session.scalars(statement).one_or_none()
    if draw is None:
        raise NotFound(f"No draw {draw_id!r}.", problem="DRAW_NOT_FOUND", draw_id=draw_id)
    return draw


def _excluded_participants(draw: LuckyDraw) -> dict[int, str]:
    excluded: dict[int, str] = {}
    if draw.exclude_previous_winners:
        rows = db.session.execute(
            select(LuckyDrawPick.participant_id, LuckyDraw.draw_id)
            .join(LuckyDraw, LuckyDraw.id == LuckyDrawPick.draw_id)
            .where(LuckyDrawPick.draw_id != draw.id, LuckyDrawPick.tier.is_not(None))
            .order_by(LuckyDrawPick.id)
        )
        for participant_id, other in rows:
            excluded.setdefault(participant_id, f"previous winner ({other})")
    reasons = {exclusion.msisdn: exclusion.reason for exclusion in draw.exclusions}
    if reasons:
        for participant_id, msisdn in db.session.execute(
            select(Participant.id, Participant.msisdn).where(Participant.msisdn.in_(list(reasons)))
        ):
            excluded.setdefault(participant_id, reasons[msisdn])
    return excluded


@dataclass(frozen=True, slots=True)
class FrozenEntries:
    """``entries.csv`` as frozen at the close, with its hash and counts."""

    data: bytes
    sha256: str
    entries: int
    participants: int


def freeze_entries(draw: LuckyDraw, excluded: Iterable[int] = ()) -> FrozenEntries:
    """``entries.csv`` of the valid entries whose SMS we received in [from, until),
    excluded participants left out, by entry id; written as the rows stream in (a
    campaign's million entries are never held as Python objects)."""
    skip = set(excluded)
    query = (
        select(Entry.id, Entry.participant_id)
        .join(InboundSms, InboundSms.id == Entry.sms_id)
        .where(Entry.outcome.in_([str(o) for o in VALID_OUTCOMES]),
               InboundSms.received_at >= draw.window_from, InboundSms.received_at < draw.window_until)
        .order_by(Entry.id)
        .execution_options(yield_per=20_000)
    )
    out = io.BytesIO()
    out.write((algorithm.ENTRIES_HEADER + "\n").encode("ascii"))
    participants: set[int] = set()
    count = 0
    participant_of = operator.itemgetter(1)
    # Core, not the ORM (a third of the time for a million rows), and each partition of
    # rows formatted in one operation (bench/draw.py).
    for rows in db.session.connection().execute(query).partitions():
        if skip:
            rows = [row for row in rows if row[1] not in skip]
        participants.update(map(participant_of, rows))
        count += len(rows)
        out.write((("%d,%d\n" * len(rows)) % tuple(itertools.chain.from_iterable(rows))).encode("ascii"))
    data = out.getvalue()
    return FrozenEntries(data, hashlib.sha256(data).hexdigest(), count, len(participants))


def close_draw(draw_id: str, *, actor: str, now: datetime | None = None) -> LuckyDraw:
    now = now or utcnow()
    draw = get_draw(draw_id, for_update=True)
    if draw.state != DrawState.OPEN:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} is already closed.", problem="DRAW_ALREADY_CLOSED",
                             draw_id=draw.draw_id)
    if now < draw.window_until:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} takes entries until {draw.window_until.isoformat()}: "
                             f"close it after that.", problem="DRAW_CLOSE_BEFORE_WINDOW_END",
                             draw_id=draw.draw_id, window_until=draw.window_until)
    waiting = db.session.scalar(select(func.count()).select_from(InboundSms).where(
        InboundSms.classified_at.is_(None), InboundSms.received_at >= draw.window_from,
        InboundSms.received_at < draw.window_until))
    if waiting:
        # Each may be an entry of the window: freezing now would leave it out for good.
        raise DrawOutOfOrder(f"Draw {draw.draw_id}: {waiting} SMS received in the entry window are not classified "
                             f"yet (the worker's backlog, or parked for review): close once they are.",
                             problem="DRAW_UNCLASSIFIED_SMS", draw_id=draw.draw_id, count=waiting)
    excluded = _excluded_participants(draw)
    frozen = freeze_entries(draw, excluded)
    if not frozen.entries:
        raise NoEligibleEntries(f"Draw {draw.draw_id} has no eligible entry: nothing to close.",
                                problem="DRAW_NO_ELIGIBLE_ENTRIES", draw_id=draw.draw_id)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["participant_id", "reason"])
    for participant_id in sorted(excluded):
        writer.writerow([participant_id, excluded[participant_id]])
    draw.entries_csv = frozen.data
    draw.exclusions_csv = out.getvalue()
    draw.entries_sha256 = frozen.sha256
    draw.entries_count = frozen.entries
    draw.participants_count = frozen.participants
    draw.closed_at = now
    draw.state = DrawState.CLOSED.value
    _event(draw, actor, "closed", now, entries_sha256=draw.entries_sha256, entries=draw.entries_count,
           participants=draw.participants_count, excluded=len(excluded))
    db.session.flush()
    return draw


def beacon_published_too_early(draw: LuckyDraw) -> bool:
    """True when the draw's drand round came out before the close (the run will refuse it)."""
    return (draw.beacon_planned_at is not None and draw.closed_at is not None
            and draw.beacon_planned_at < draw.closed_at)


def fetch_beacon(draw_id: str, urls: Sequence[str], timeout: float) -> fetch.FetchedRound | None:
    """The drand round of a closed drand draw, from drand's HTTP API, for a run with no
    pasted signature; None when there is nothing to fetch (a manual beacon, a draw not
    closed or already run: :func:`run_draw` says why). The run verifies what is fetched
    offline like a pasted signature."""
    draw = get_draw(draw_id)
    network = drand.NETWORKS.get(draw.beacon_source)
    if network is None or draw.beacon_round is None or draw.state != DrawState.CLOSED:
        return None
    try:
        return fetch.fetch_round(network, draw.beacon_round, urls, timeout=timeout)
    except fetch.FetchFailed as exc:
        where = fetch.round_url(urls[0], network, draw.beacon_round) if urls else "a drand relay"
        raise BeaconRefused(f"drand round {draw.beacon_round} could not be fetched ({exc}). Fetch {where} where "
                            f"it can be reached and give its signature with --beacon-signature.",
                            problem="DRAW_BEACON_FETCH_FAILED" if urls else "DRAW_BEACON_NO_RELAY",
                            round=draw.beacon_round, url=where, error=str(exc)) from None


def run_draw(draw_id: str, *, actor: str, signature: str | None = None, previous_signature: str | None = None,
             value: str | None = None, port: int = 17, claim_days: int = DEFAULT_CLAIM_DAYS,
             now: datetime | None = None) -> LuckyDraw:
    """Pick winners and alternates once, from the verified beacon; queue the winners' SMS."""
    now = now or utcnow()
    draw = get_draw(draw_id, for_update=True)
    if draw.state == DrawState.OPEN:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} is not closed yet: close it first.",
                             problem="DRAW_NOT_CLOSED", draw_id=draw.draw_id)
    if draw.state == DrawState.RUN:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} has already been run; a draw runs once.",
                             problem="DRAW_ALREADY_RUN", draw_id=draw.draw_id)
    if draw.beacon_source == MANUAL:
        if value is None or not value.strip() or signature:
            raise BeaconRefused("This draw's beacon is a manual value: give it with --beacon-value.",
                                 problem="DRAW_MANUAL_VALUE_NEEDED")
        # Spaces normalised (runs of spaces, tabs or line breaks are one space, none at the
        # ends) before it is used and stored: how the value is typed must not be a choice
        # of outcomes for whoever runs the draw. The bundle carries the value so
        # normalised, and the published algorithm hashes it as it is.
        value = " ".join(value.split())
        if len(value) > VALUE_MAX:
            raise InvalidInput("value", f"A public value has at most {VALUE_MAX} characters.",
                               problem="DRAW_VALUE_TOO_LONG", max=VALUE_MAX)
        beacon_hex = algorithm.manual_beacon_hex(value)
        draw.beacon_value = value
    else:
        network = drand.NETWORKS[draw.beacon_source]
        if not signature or value is not None:
            raise BeaconRefused(f"This draw's beacon is {network.source} round {draw.beacon_round}: "
                                f"give its signature with --beacon-signature.", problem="DRAW_SIGNATURE_NEEDED",
                                source=network.source, round=draw.beacon_round)
        assert draw.beacon_round is not None and draw.closed_at is not None
        published = drand.round_time(network, draw.beacon_round)
        if published < draw.closed_at:
            raise BeaconRefused(f"drand round {draw.beacon_round} was published at {published.isoformat()}, before "
                                f"the draw closed ({draw.closed_at.isoformat()}): it cannot be used.",
                                problem="DRAW_ROUND_BEFORE_CLOSE", round=draw.beacon_round, published_at=published,
                                closed_at=draw.closed_at)
        try:
            sig = bytes.fromhex(signature)
            previous = bytes.fromhex(previous_signature) if previous_signature else None
            beacon_hex = drand.verify(network, draw.beacon_round, sig, previous)
        except ValueError as exc:  # BeaconError is a ValueError, so is bad hex
            raise BeaconRefused(f"The beacon signature does not verify: {exc}.",
                                problem="DRAW_SIGNATURE_INVALID", error=str(exc)) from None
        draw.beacon_signature = sig.hex()
        draw.beacon_previous_signature = previous.hex() if previous else None
    data = draw.entries_csv
    assert data is not None and draw.entries_sha256 is not None
    if hashlib.sha256(data).hexdigest() != draw.entries_sha256:
        raise DrawOutOfOrder(f"Draw {draw.draw_id}: the stored entry list does not match its published hash.",
                             problem="DRAW_ENTRIES_ALTERED", draw_id=draw.draw_id)
    tiers = [prize.tier for prize in draw.prizes for _ in range(prize.count)]
    outcome = algorithm.pick_entries_csv(data, seed=bytes.fromhex(draw.seed_hex), draw_id=draw.draw_id,
                                         entries_hash=draw.entries_sha256, beacon_hex=beacon_hex, winners=len(tiers),
                                         alternates=draw.alternates_wanted)
    draw.beacon_randomness = beacon_hex
    draw.run_at = now
    draw.state = DrawState.RUN.value
    msisdns = _msisdns([p.participant_id for p in outcome.winners + outcome.alternates])
    for pick, tier in zip(outcome.winners, tiers, strict=False):
        draw.picks.append(LuckyDrawPick(rank=pick.rank, entry_id=pick.entry_id, participant_id=pick.participant_id,
                                        msisdn=msisdns[pick.participant_id], drawn_tier=tier, tier=tier,
                                        state=PickState.NOTIFIED.value))
    for number, pick in enumerate(outcome.alternates, start=1):
        draw.picks.append(LuckyDrawPick(rank=pick.rank, entry_id=pick.entry_id, participant_id=pick.participant_id,
                                        msisdn=msisdns[pick.participant_id], alternate_rank=number,
                                        state=PickState.RESERVE.value))
    db.session.flush()
    _event(draw, actor, "run", now, randomness=beacon_hex, winners=len(outcome.winners),
           alternates=len(outcome.alternates), unawarded=len(tiers) - len(outcome.winners))
    for pick in draw.picks:
        if pick.state == PickState.NOTIFIED:
            _notify(draw, pick, actor, port, claim_days, now)
    db.session.flush()
    return draw


def _msisdns(participant_ids: Sequence[int]) -> dict[int, str]:
    if not participant_ids:
        return {}
    rows = db.session.execute(select(Participant.id, Participant.msisdn).where(Participant.id.in_(participant_ids)))
    return {participant_id: msisdn for participant_id, msisdn in rows}


def winner_text(draw: LuckyDraw, tier: int, deadline: datetime) -> str:
    """The WINNER SMS (the editable template, else its default), always one SMS."""
    prize = next(p.name for p in draw.prizes if p.tier == tier)
    text = replies.render(replies.WINNER, {"prize": prize, "deadline": f"{deadline.astimezone(CAMPAIGN_TZ):%d/%m/%Y}"})
    try:
        outbound.check_text(text)
    except DomainError:  # a prize name that forces UCS-2 can overflow even the default
        text = "ROKO : vous avez gagné au tirage ! Un agent vous appellera. Gardez le sac et son code."
    return text


def _notify(draw: LuckyDraw, pick: LuckyDrawPick, actor: str, port: int, claim_days: int, now: datetime) -> None:
    """Queue the WINNER SMS (a winner's notice goes to blocked and opted-out numbers too);
    the prize can be claimed for ``claim_days`` from now."""
    assert pick.tier is not None
    pick.claim_deadline = now + timedelta(days=claim_days)
    message = outbound.queue_message(phone_number=pick.msisdn, text=winner_text(draw, pick.tier, pick.claim_deadline),
                                     port=port, template_key=WINNER_TEMPLATE, caller=f"draw:{draw.draw_id}",
                                     priority=Priority.REPLY, purpose=outbound.Purpose.WINNER_NOTICE)
    pick.outbound_sms_id = message.id
    pick.notified_at = now
    _event(draw, actor, "notified", now, entry_id=pick.entry_id, tier=pick.tier, outbound_sms_id=message.id,
           claim_deadline=pick.claim_deadline.isoformat())


def _prize_pick(draw: LuckyDraw, entry_id: int) -> LuckyDrawPick:
    if draw.state != DrawState.RUN:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} has not been run yet.", problem="DRAW_NOT_RUN",
                             draw_id=draw.draw_id)
    pick = next((p for p in draw.picks if p.entry_id == entry_id and p.tier is not None), None)
    if pick is None:
        raise NotFound(f"Entry {entry_id} holds no prize in draw {draw.draw_id}.",
                       problem="DRAW_NO_SUCH_PRIZE", entry_id=entry_id, draw_id=draw.draw_id)
    if pick.state != PickState.NOTIFIED:
        raise DrawOutOfOrder(f"The prize of entry {entry_id} is already {pick.state}.",
                             problem="DRAW_PRIZE_SETTLED", entry_id=entry_id, state=pick.state)
    return pick


def claim(draw_id: str, entry_id: int, *, actor: str, now: datetime | None = None) -> LuckyDrawPick:
    """The winner proved who they are and got the prize."""
    now = now or utcnow()
    draw = get_draw(draw_id, for_update=True)
    pick = _prize_pick(draw, entry_id)
    if pick.claim_deadline is not None and now > pick.claim_deadline:
        raise DrawOutOfOrder(f"The prize of entry {entry_id} had to be claimed by {pick.claim_deadline.isoformat()}: "
                             f"it is forfeited ({DEADLINE_PASSED}).", problem="DRAW_CLAIM_TOO_LATE",
                             entry_id=entry_id, deadline=pick.claim_deadline)
    pick.state = PickState.CLAIMED.value
    pick.claimed_at = now
    _event(draw, actor, "claimed", now, entry_id=entry_id, tier=pick.tier)
    db.session.flush()
    return pick


def forfeit(draw_id: str, entry_id: int, *, reason: str, actor: str, port: int = 17,
            claim_days: int = DEFAULT_CLAIM_DAYS, now: datetime | None = None) -> LuckyDrawPick | None:
    """The prize is lost (deadline passed, refused); it goes to the next unused alternate,
    who is notified. Returns that alternate, or None when none is left."""
    now = now or utcnow()
    if not reason.strip():
        raise InvalidInput("reason", "Say why the prize is forfeited.", problem="DRAW_FORFEIT_REASON_MISSING")
    draw = get_draw(draw_id, for_update=True)
    pick = _prize_pick(draw, entry_id)
    pick.state = PickState.FORFEITED.value
    pick.forfeited_at = now
    pick.forfeit_reason = reason.strip()[:500]
    _event(draw, actor, "forfeited", now, entry_id=entry_id, tier=pick.tier, reason=pick.forfeit_reason)
    successor = next((p for p in sorted(draw.picks, key=lambda p: p.rank) if p.state == PickState.RESERVE), None)
    if successor is not None:
        successor.tier = pick.tier
        successor.replaces_id = pick.id
        successor.state = PickState.NOTIFIED.value
        _event(draw, actor, "promoted", now, entry_id=successor.entry_id, alternate_rank=successor.alternate_rank,
               tier=successor.tier, replaces_entry_id=entry_id)
        _notify(draw, successor, actor, port, claim_days, now)
    db.session.flush()
    return successor


@dataclass(frozen=True, slots=True)
class Expired:
    """A prize forfeited for its deadline, and the alternate who got it (None: none left)."""

    draw_id: str
    entry_id: int
    successor_entry_id: int | None


def expire_claims(*, actor: str, port: int = 17, claim_days: int = DEFAULT_CLAIM_DAYS,
                  now: datetime | None = None) -> list[Expired]:
    """Forfeit every notified prize past its claim deadline ("délai dépassé") and promote
    and notify the next alternate of its draw. Idempotent: a second call finds nothing."""
    now = now or utcnow()
    overdue = db.session.execute(
        select(LuckyDraw.draw_id, LuckyDrawPick.entry_id)
        .join(LuckyDraw, LuckyDraw.id == LuckyDrawPick.draw_id)
        .where(LuckyDrawPick.state == PickState.NOTIFIED.value, LuckyDrawPick.claim_deadline < now)
        .order_by(LuckyDraw.id, LuckyDrawPick.rank)
    ).all()
    expired = []
    for draw_id, entry_id in overdue:
        successor = forfeit(draw_id, entry_id, reason=DEADLINE_PASSED, actor=actor, port=port,
                            claim_days=claim_days, now=now)
        expired.append(Expired(draw_id, entry_id, successor.entry_id if successor else None))
    return expired


def draw_record(draw: LuckyDraw) -> dict[str, Any]:
    """``draw.json``: what is published; the seed only once the draw has run."""
    def iso(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None

    ran = draw.state == DrawState.RUN
    return {
        "algorithm": algorithm.ALGORITHM,
        "draw_id": draw.draw_id,
        "name": draw.name,
        "state": draw.state,
        "entry_window": {"from": iso(draw.window_from), "until": iso(draw.window_until)},
        "created_at": iso(draw.created_at),
        "closed_at": iso(draw.closed_at),
        "run_at": iso(draw.run_at),
        "commitment": draw.commitment,
        "seed": draw.seed_hex if ran else None,
        "beacon": {
            "source": draw.beacon_source,
            "round": draw.beacon_round,
            "planned_at": iso(draw.beacon_planned_at),
            "description": draw.beacon_description,
            "signature": draw.beacon_signature,
            "previous_signature": draw.beacon_previous_signature,
            "value": draw.beacon_value,
            "randomness": draw.beacon_randomness,
        },
        "entries_sha256": draw.entries_sha256,
        "entries_count": draw.entries_count,
        "participants_count": draw.participants_count,
        "prizes": [{"tier": p.tier, "name": p.name, "count": p.count} for p in draw.prizes],
        "alternates_wanted": draw.alternates_wanted,
        "winners": [{"tier": p.drawn_tier, "entry_id": p.entry_id, "participant_id": p.participant_id,
                     "msisdn_masked": mask(p.msisdn), "state": p.state, "claim_deadline": iso(p.claim_deadline)}
                    for p in draw.picks if p.drawn_tier is not None],
        "alternates": [{"rank": p.alternate_rank, "entry_id": p.entry_id, "participant_id": p.participant_id,
                        "msisdn_masked": mask(p.msisdn), "state": p.state, "tier": p.tier}
                       for p in draw.picks if p.alternate_rank is not None],
        "unawarded": unawarded(draw) if ran else [],
        "timeline": [{"at": iso(e.at), "actor": e.actor if e.actor in ("cli", "system") else "operator",
                      "action": e.action} for e in draw.events],
    }


VERIFY_MD = """# Checking draw {draw_id}

This folder holds everything needed to recompute the ROKO lucky draw "{name}"
(algorithm `roko-draw-v1`) without the ROKO database:

- `draw.json`: the published record (commitment, seed, beacon, hashes, winners, alternates);
- `entries.csv`: the frozen list of eligible entries (`entry_id,participant_id`);
- `exclusions.csv`: participants left out, with the reason;
- `verify_draw.py`: the checker, Python 3 standard library only.

Run `python3 verify_draw.py .` in this folder: it prints `OK` when

1. SHA-256 of `entries.csv` equals `entries_sha256`, and the counts match;
2. SHA-256 of the seed equals the `commitment` published when the draw was created;
3. the beacon's `randomness` is SHA-256 of the drand signature (or of the manual value);
4. winners and alternates follow from
   `key = HMAC-SHA256(seed, "roko-draw-v1|" + draw_id + "|" + entries_sha256 + "|" + randomness)`,
   each entry's score `HMAC-SHA256(key, entry_id)` read as a big-endian integer, entries
   sorted by (score, entry_id), one pick per participant, prizes filled in tier order,
   then the ranked alternates.

The drand signature itself is a BLS12-381 signature of the League of Entropy; check it
with any drand client (for example `drand-verify`, or fetch the round from
https://api.drand.sh) against the network's public key: the standard library has no
pairing arithmetic.
"""

VERIFIER = PROJECT_ROOT / "docs" / "verify_draw.py"


def bundle_files(draw: LuckyDraw) -> dict[str, bytes]:
    """The evidence bundle of a draw that has run, file name to bytes: ``draw.json``,
    ``entries.csv``, ``exclusions.csv``, ``VERIFY.md`` and ``verify_draw.py``."""
    if draw.state != DrawState.RUN:
        raise DrawOutOfOrder(f"Draw {draw.draw_id} has not been run yet: there is nothing to verify.",
                             problem="DRAW_BUNDLE_NOT_RUN", draw_id=draw.draw_id)
    record = json.dumps(draw_record(draw), ensure_ascii=False, indent=2) + "\n"
    return {
        "draw.json": record.encode("utf-8"),
        "entries.csv": draw.entries_csv or b"",
        "exclusions.csv": (draw.exclusions_csv or "").encode("utf-8"),
        "VERIFY.md": VERIFY_MD.format(draw_id=draw.draw_id, name=draw.name).encode("utf-8"),
        "verify_draw.py": VERIFIER.read_bytes(),
    }


def bundle_zip(draw: LuckyDraw) -> bytes:
    """The bundle as a zip archive whose files sit in one folder named after the draw."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in bundle_files(draw).items():
            archive.writestr(f"{draw.draw_id}/{name}", data)
    return out.getvalue()


def unawarded(draw: LuckyDraw) -> list[dict[str, Any]]:
    """The prizes (tier, name, count) the run could not award: fewer participants than prizes."""
    held: dict[int, int] = {}
    for pick in draw.picks:
        if pick.drawn_tier is not None:
            held[pick.drawn_tier] = held.get(pick.drawn_tier, 0) + 1
    return [{"tier": p.tier, "name": p.name, "count": p.count - held.get(p.tier, 0)}
            for p in draw.prizes if held.get(p.tier, 0) < p.count]
