"""Classifying a new inbound SMS into a draw entry, and queueing its French reply.

Runs only for the first delivery of an SMS (``inbound.record`` tells new from replay),
in the same transaction as the SMS row, so an SMS has exactly one entry and at most one
reply (``outbound_sms.reply_to_sms_id`` is unique as a last line of defence).

Order of the rules, for one SMS from one number:

1. ``STOP``/``ARRET``/``ARRÊT`` alone: OPT_OUT (confirmed once; no campaign messages
   any more, entries still count). Works while blocked or outside the campaign.
2. A blocked number: BLOCKED, with no code look-up (codes cannot be guessed by brute
   force); the block was announced by one reply, after which there is silence.
3. Outside the campaign window: CAMPAIGN_NOT_STARTED / CAMPAIGN_CLOSED.
4. No code found: BAD_FORMAT.
5. The code: INVALID_CODE (not registered), DUPLICATE (used by this number already),
   ALREADY_USED (used by another number: a fraud signal, logged with both numbers),
   else VALID_FIRST / VALID_AGAIN (the code becomes used by this number).
6. INVALID_CODE and ALREADY_USED are failed attempts: the one that reaches
   ``BLOCK_AFTER_FAILURES`` within ``BLOCK_WINDOW_HOURS`` blocks the number for
   ``BLOCK_HOURS`` and is answered with the BLOCKED reply instead.

The participant row is locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
serialises writers), so two SMS from one number are classified one after the other,
and a code is claimed with a conditional ``UPDATE`` so two numbers cannot both win it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from roko_app.database.sqlite import RawConnection, Sql
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Outcome, Participant, Priority
from roko_app.models.draw import FAILED_OUTCOMES, VALID_OUTCOMES
from roko_app.services import outbound, replies
from roko_app.services.code_registry import hash_code
from roko_app.services.errors import NotFound
from roko_app.sms.encoding import analyze
from roko_app.sms.parsing import parse_message

log = logging.getLogger(__name__)

AUTO_REPLY_CALLER = "auto-reply"


@dataclass(frozen=True, slots=True)
class DrawSettings:
    code_key: str
    keyword: str = "ROKO"
    start: datetime | None = None
    end: datetime | None = None
    block_after_failures: int = 5
    block_window: timedelta = timedelta(hours=24)
    block_duration: timedelta = timedelta(hours=24)

    @classmethod
    def from_config(cls, config: Any) -> DrawSettings:
        return cls(
            code_key=config["CODE_KEY"],
            keyword=config["CAMPAIGN_KEYWORD"],
            start=config.get("CAMPAIGN_START_AT"),
            end=config.get("CAMPAIGN_END_AT"),
            block_after_failures=int(config["BLOCK_AFTER_FAILURES"]),
            block_window=timedelta(hours=float(config["BLOCK_WINDOW_HOURS"])),
            block_duration=timedelta(hours=float(config["BLOCK_HOURS"])),
        )


@dataclass(frozen=True, slots=True)
class NewSms:
    """What classification needs of a newly stored SMS."""

    id: int
    sender: str
    sender_msisdn: str | None
    text: str
    port: int


@dataclass(frozen=True, slots=True)
class Classified:
    outcome: str
    reply_key: str | None  # the template of the queued reply; None when silence is the answer


# This runs inside the request of every inbound SMS, so it speaks SQL on the DB-API
# connection of the request's transaction (see ``database.RawConnection``): through the
# ORM or Core, each statement's Python would cost several times the database's own work.

# DO UPDATE (a no-op) instead of DO NOTHING so the row comes back, and is locked until
# commit, in the same statement: the per-number lock of the rules above.
_UPSERT_PARTICIPANT = Sql("""
    INSERT INTO participant (msisdn, first_seen_at, valid_entries) VALUES (:msisdn, :now, 0)
    ON CONFLICT (msisdn) DO UPDATE SET msisdn = excluded.msisdn
    RETURNING id, valid_entries, opted_out_at, blocked_until, block_notified_at""")
# Conditional claim: of two numbers sending the same code at once, one wins.
_CLAIM_CODE = Sql("""
    UPDATE code SET used_by = :msisdn, used_at = :now WHERE code_hash = :hash AND used_by IS NULL RETURNING id""")
_FIND_CODE = Sql("SELECT id, used_by, batch FROM code WHERE code_hash = :hash")
_COUNT_FAILURES = Sql("""
    SELECT count(*) FROM entry
    WHERE participant_id = :participant AND created_at > :since AND outcome IN (:invalid_code, :already_used)""")
_FAILED = {"invalid_code": Outcome.INVALID_CODE.value, "already_used": Outcome.ALREADY_USED.value}
_INSERT_ENTRY = Sql("""
    INSERT INTO entry (sms_id, participant_id, msisdn, outcome, code, code_id, chances, created_at)
    VALUES (:sms_id, :participant_id, :msisdn, :outcome, :code, :code_id, :chances, :created_at)""")
_INSERT_REPLY = Sql("""
    INSERT INTO outbound_sms (to_msisdn, text, encoding, units, status, priority, port, template_key, caller,
                              attempts, not_before, next_attempt_at, created_at, updated_at, reply_to_sms_id)
    VALUES (:to_msisdn, :text, :encoding, :units, :status, :priority, :port, :template_key, :caller,
            :attempts, :not_before, :next_attempt_at, :created_at, :updated_at, :reply_to_sms_id)""")
# The row is locked, so writing back the unchanged columns is harmless.
_UPDATE_PARTICIPANT = Sql("""
    UPDATE participant SET valid_entries = :valid_entries, opted_out_at = :opted_out_at,
                           blocked_until = :blocked_until, block_notified_at = :block_notified_at
    WHERE id = :id""")


_PARTICIPANT_TIMES = ("opted_out_at", "blocked_until", "block_notified_at")


@dataclass(frozen=True, slots=True)
class _Participant:
    id: int
    valid_entries: int
    opted_out_at: datetime | None
    blocked_until: datetime | None
    block_notified_at: datetime | None


def classify(sms: NewSms, settings: DrawSettings, now: datetime | None = None,
             raw: RawConnection | None = None) -> Classified:
    """Record the entry for a newly stored SMS and queue its reply (not committed);
    ``raw`` is the request's connection when the caller already has it."""
    now = now or utcnow()
    raw = raw or RawConnection(db.session)
    msisdn = sms.sender_msisdn or sms.sender
    row = raw.execute(_UPSERT_PARTICIPANT, {"msisdn": msisdn, "now": raw.time(now)}).fetchone()
    participant = _Participant(row[0], row[1], *(raw.read_time(value) for value in row[2:]))
    parsed = parse_message(sms.text, settings.keyword)
    changes: dict[str, Any] = {}
    code_id: int | None = None
    reply_key: str | None = None
    chances = participant.valid_entries

    if parsed.kind == "opt_out":
        outcome = Outcome.OPT_OUT
        if participant.opted_out_at is None:
            changes["opted_out_at"] = now
            reply_key = Outcome.OPT_OUT
    elif participant.blocked_until is not None and now < participant.blocked_until:
        outcome = Outcome.BLOCKED
        if participant.block_notified_at is None:
            changes["block_notified_at"] = now
            reply_key = Outcome.BLOCKED
    elif settings.start is not None and now < settings.start:
        outcome = reply_key = Outcome.CAMPAIGN_NOT_STARTED
    elif settings.end is not None and now >= settings.end:
        outcome = reply_key = Outcome.CAMPAIGN_CLOSED
    elif parsed.kind != "code" or parsed.code is None:
        outcome = reply_key = Outcome.BAD_FORMAT
    else:
        outcome, code_id = _check_code(raw, parsed.code, msisdn, settings, now)
        if outcome in VALID_OUTCOMES:
            chances += 1
            changes["valid_entries"] = chances
            outcome = Outcome.VALID_FIRST if chances == 1 else Outcome.VALID_AGAIN
        reply_key = outcome
        if outcome in FAILED_OUTCOMES and _reaches_block(raw, participant, settings, now):
            changes["blocked_until"] = now + settings.block_duration
            changes["block_notified_at"] = now
            reply_key = Outcome.BLOCKED
            log.warning("participant %s blocked until %s after %s failed attempts",
                        participant.id, changes["blocked_until"], settings.block_after_failures)

    if changes:
        state = {**asdict(participant), **changes}
        raw.execute(_UPDATE_PARTICIPANT, {"id": participant.id, "valid_entries": state["valid_entries"],
                                          **{name: raw.time(state[name]) for name in _PARTICIPANT_TIMES}})
    keeps_code = parsed.kind == "code" and outcome not in _NO_CODE_OUTCOMES
    raw.execute(_INSERT_ENTRY, {
        "sms_id": sms.id, "participant_id": participant.id, "msisdn": msisdn, "outcome": outcome.value,
        "code": parsed.code if keeps_code else None, "code_id": code_id, "chances": chances,
        "created_at": raw.time(now)})
    if reply_key is not None:
        _queue_reply(raw, sms, reply_key, parsed.code if keeps_code else None, chances, settings, now)
    return Classified(outcome.value, reply_key)


# Outcomes decided before the code was looked at: the entry keeps no code.
_NO_CODE_OUTCOMES = (Outcome.BLOCKED, Outcome.CAMPAIGN_CLOSED, Outcome.CAMPAIGN_NOT_STARTED, Outcome.OPT_OUT)


def _check_code(raw: RawConnection, code: str, msisdn: str, settings: DrawSettings,
                now: datetime) -> tuple[Outcome, int | None]:
    """VALID_FIRST (a claim; the caller tells first from again), DUPLICATE,
    ALREADY_USED or INVALID_CODE, and the code's id."""
    digest = hash_code(code, settings.code_key)
    claimed = raw.execute(_CLAIM_CODE, {"hash": digest, "msisdn": msisdn, "now": raw.time(now)}).fetchone()
    if claimed is not None:
        return Outcome.VALID_FIRST, claimed[0]
    row = raw.execute(_FIND_CODE, {"hash": digest}).fetchone()
    if row is None:
        return Outcome.INVALID_CODE, None
    code_id, used_by, batch = row
    if used_by == msisdn:
        return Outcome.DUPLICATE, code_id
    log.warning("fraud signal: code of batch %s sent by %s was already used by %s", batch, msisdn, used_by)
    return Outcome.ALREADY_USED, code_id


def _reaches_block(raw: RawConnection, participant: _Participant, settings: DrawSettings, now: datetime) -> bool:
    """Whether this failure is the one that blocks: failures count within the window,
    and only since the last block ended (lapsed or lifted by an operator)."""
    if settings.block_after_failures <= 0:
        return False
    since = now - settings.block_window
    if participant.blocked_until is not None and participant.blocked_until > since:
        since = participant.blocked_until
    earlier = raw.execute(_COUNT_FAILURES, {"participant": participant.id, "since": raw.time(since), **_FAILED}).fetchone()[0]
    return earlier + 1 >= settings.block_after_failures


def _queue_reply(raw: RawConnection, sms: NewSms, key: str, code: str | None, chances: int, settings: DrawSettings,
                 now: datetime) -> None:
    if sms.sender_msisdn is None:
        log.info("no reply to sms %s: the sender is not a Guinea mobile number", sms.id)
        return
    hours = int(settings.block_duration.total_seconds() // 3600)
    text = replies.render(key, {"code": code or "", "chances": chances, "hours": hours})
    values = outbound.message_values(msisdn=sms.sender_msisdn, info=analyze(text), port=sms.port, priority=Priority.REPLY,
                                     caller=AUTO_REPLY_CALLER, now=now, template_key=key, reply_to_sms_id=sms.id)
    for name in ("not_before", "next_attempt_at", "created_at", "updated_at"):
        values[name] = raw.time(values[name])
    raw.execute(_INSERT_REPLY, values)


def unblock(msisdn: str, now: datetime | None = None) -> bool:
    """Lift the block of the participant ``msisdn`` (an operator's decision).

    Ends the block now (``blocked_until`` = now) and clears ``block_notified_at``, so the
    number's next SMS is classified normally and the failures that led to the block no
    longer count towards the next one (a later block is announced again). Returns whether the
    number was blocked at ``now``; raises ``NotFound`` for an unknown number. Not committed.
    """
    now = now or utcnow()
    participant = db.session.scalars(
        select(Participant).where(Participant.msisdn == msisdn).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if participant is None:
        raise NotFound(f"No participant has the number {msisdn}.")
    was_blocked = participant.blocked_until is not None and participant.blocked_until > now
    if was_blocked:
        participant.blocked_until = now
    participant.block_notified_at = None
    db.session.flush()
    if was_blocked:
        log.info("participant %s unblocked", participant.id)
    return was_blocked
