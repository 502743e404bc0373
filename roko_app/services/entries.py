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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from roko_app.database import dialect_insert, statement
from roko_app.extensions import db
from roko_app.models import Code, Entry, OutboundSms, Outcome, Participant, Priority
from roko_app.models.draw import FAILED_OUTCOMES, VALID_OUTCOMES
from roko_app.models.types import UTCDateTime, utcnow
from roko_app.services import outbound, replies
from roko_app.services.codes import hash_code
from roko_app.services.errors import NotFound
from roko_app.sms.codes import parse_message
from roko_app.sms.encoding import analyze

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


# This runs inside the request of every inbound SMS, so it speaks Core with statements
# built once (the ORM's unit of work would cost several times the database's own time).
_PARTICIPANT = Participant.__table__
_CODE = Code.__table__
_ENTRY = Entry.__table__
_OUTBOX = OutboundSms.__table__


def _upsert_participant(dialect: str) -> Any:
    # DO UPDATE (a no-op) instead of DO NOTHING so the row comes back, and is locked
    # until commit, in the same statement: the per-number lock of the rules above.
    insert = dialect_insert(dialect, _PARTICIPANT)
    return (insert.on_conflict_do_update(index_elements=["msisdn"], set_={"msisdn": insert.excluded.msisdn})
            .returning(_PARTICIPANT.c.id, _PARTICIPANT.c.valid_entries, _PARTICIPANT.c.opted_out_at,
                       _PARTICIPANT.c.blocked_until, _PARTICIPANT.c.block_notified_at))


def _update_participant(columns: tuple[str, ...]) -> Any:
    return (update(_PARTICIPANT).where(_PARTICIPANT.c.id == bindparam("pid"))
            .values({name: bindparam(name, type_=_PARTICIPANT.c[name].type) for name in columns}))


def _claim_code(_: str) -> Any:
    return (update(_CODE).where(_CODE.c.code_hash == bindparam("h"), _CODE.c.used_by.is_(None))
            .values(used_by=bindparam("m"), used_at=bindparam("now", type_=UTCDateTime())).returning(_CODE.c.id))


def _find_code(_: str) -> Any:
    return select(_CODE.c.id, _CODE.c.used_by, _CODE.c.batch).where(_CODE.c.code_hash == bindparam("h"))


def _count_failures(_: str) -> Any:
    return (select(func.count()).select_from(_ENTRY)
            .where(_ENTRY.c.participant_id == bindparam("p"),
                   _ENTRY.c.outcome.in_([o.value for o in FAILED_OUTCOMES]),
                   _ENTRY.c.created_at > bindparam("since", type_=UTCDateTime())))


def _insert_entry(_: str) -> Any:
    return insert(_ENTRY)


def _insert_reply(_: str) -> Any:
    return insert(_OUTBOX)


def classify(sms: NewSms, settings: DrawSettings, now: datetime | None = None) -> Classified:
    """Record the entry for a newly stored SMS and queue its reply (not committed)."""
    now = now or utcnow()
    connection = db.session.connection()
    msisdn = sms.sender_msisdn or sms.sender
    participant = connection.execute(statement(connection, "entries.participant", _upsert_participant),
                                     {"msisdn": msisdn, "first_seen_at": now, "valid_entries": 0}).one()
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
        outcome, code_id = _check_code(connection, parsed.code, msisdn, settings, now)
        if outcome in VALID_OUTCOMES:
            chances += 1
            changes["valid_entries"] = chances
            outcome = Outcome.VALID_FIRST if chances == 1 else Outcome.VALID_AGAIN
        reply_key = outcome
        if outcome in FAILED_OUTCOMES and _reaches_block(connection, participant, settings, now):
            changes["blocked_until"] = now + settings.block_duration
            changes["block_notified_at"] = now
            reply_key = Outcome.BLOCKED
            log.warning("participant %s blocked until %s after %s failed attempts",
                        participant.id, changes["blocked_until"], settings.block_after_failures)

    if changes:
        columns = tuple(sorted(changes))
        connection.execute(statement(connection, "entries.participant." + ",".join(columns),
                                     lambda _: _update_participant(columns)), {"pid": participant.id, **changes})
    keeps_code = parsed.kind == "code" and outcome not in _NO_CODE_OUTCOMES
    connection.execute(statement(connection, "entries.entry", _insert_entry), {
        "sms_id": sms.id, "participant_id": participant.id, "msisdn": msisdn, "outcome": outcome.value,
        "code": parsed.code if keeps_code else None, "code_id": code_id, "chances": chances, "created_at": now})
    if reply_key is not None:
        _queue_reply(connection, sms, reply_key, parsed.code if keeps_code else None, chances, settings, now)
    return Classified(outcome.value, reply_key)


# Outcomes decided before the code was looked at: the entry keeps no code.
_NO_CODE_OUTCOMES = (Outcome.BLOCKED, Outcome.CAMPAIGN_CLOSED, Outcome.CAMPAIGN_NOT_STARTED, Outcome.OPT_OUT)


def _check_code(connection: Any, code: str, msisdn: str, settings: DrawSettings,
                now: datetime) -> tuple[Outcome, int | None]:
    """VALID_FIRST (a claim; the caller tells first from again), DUPLICATE,
    ALREADY_USED or INVALID_CODE, and the code's id."""
    digest = hash_code(code, settings.code_key)
    # Conditional claim: of two numbers sending the same code at once, one wins.
    claimed = connection.execute(statement(connection, "entries.claim", _claim_code),
                                 {"h": digest, "m": msisdn, "now": now}).scalar()
    if claimed is not None:
        return Outcome.VALID_FIRST, claimed
    row = connection.execute(statement(connection, "entries.find", _find_code), {"h": digest}).first()
    if row is None:
        return Outcome.INVALID_CODE, None
    if row.used_by == msisdn:
        return Outcome.DUPLICATE, row.id
    log.warning("fraud signal: code of batch %s sent by %s was already used by %s", row.batch, msisdn, row.used_by)
    return Outcome.ALREADY_USED, row.id


def _reaches_block(connection: Any, participant: Any, settings: DrawSettings, now: datetime) -> bool:
    """Whether this failure is the one that blocks: failures count within the window,
    and only since the last block ended (lapsed or lifted by an operator)."""
    if settings.block_after_failures <= 0:
        return False
    since = now - settings.block_window
    if participant.blocked_until is not None and participant.blocked_until > since:
        since = participant.blocked_until
    earlier = connection.execute(statement(connection, "entries.failures", _count_failures),
                                 {"p": participant.id, "since": since}).scalar()
    return earlier + 1 >= settings.block_after_failures


def _queue_reply(connection: Any, sms: NewSms, key: str, code: str | None, chances: int, settings: DrawSettings,
                 now: datetime) -> None:
    if sms.sender_msisdn is None:
        log.info("no reply to sms %s: the sender is not a Guinea mobile number", sms.id)
        return
    hours = int(settings.block_duration.total_seconds() // 3600)
    text = replies.render(key, {"code": code or "", "chances": chances, "hours": hours})
    values = outbound.message_values(msisdn=sms.sender_msisdn, info=analyze(text), port=sms.port, priority=Priority.REPLY,
                                     caller=AUTO_REPLY_CALLER, now=now, template_key=key, reply_to_sms_id=sms.id)
    connection.execute(statement(connection, "entries.reply", _insert_reply), values)


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
