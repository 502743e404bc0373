"""Classifying stored inbound SMS into draw entries, and queueing their French replies.

The webhook only stores an SMS; the worker (:mod:`roko_app.worker.classifier`) claims
the unclassified ones with :func:`claim_pending` and classifies each exactly once with
:func:`classify_batch`, which writes its entry, its reply row and marks it classified,
in the caller's transaction. An SMS whose classification raised gets
:func:`record_failure` (retried with backoff, parked after a few tries); an operator
puts a parked SMS back in the queue with :func:`retry_parked`. The rules, their order
and the guarantees are in ``docs/worker.md``. Nothing here commits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Code, Entry, InboundSms, OutboundSms, Outcome, Participant, Priority
from roko_app.models.draw import FAILED_OUTCOMES, VALID_OUTCOMES
from roko_app.services import outbound, replies
from roko_app.services.code_registry import hash_code
from roko_app.services.errors import DomainError, NotFound
from roko_app.sms.encoding import analyze
from roko_app.sms.parsing import parse_message

log = logging.getLogger(__name__)

AUTO_REPLY_CALLER = "auto-reply"
#: Outcomes decided before the code was looked at: the entry keeps no code.
_NO_CODE_OUTCOMES = (Outcome.BLOCKED, Outcome.CAMPAIGN_CLOSED, Outcome.CAMPAIGN_NOT_STARTED, Outcome.OPT_OUT)


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
class RetryRule:
    """How often a classification that raised is tried again before it is parked."""

    max_attempts: int = 3
    backoff: timedelta = timedelta(seconds=30)

    def delay(self, attempts: int) -> timedelta:
        return self.backoff * (2 ** max(attempts - 1, 0))

    @classmethod
    def from_config(cls, config: Any) -> RetryRule:
        return cls(int(config["CLASSIFY_MAX_ATTEMPTS"]), timedelta(seconds=float(config["CLASSIFY_BACKOFF_SECONDS"])))


@dataclass(frozen=True, slots=True)
class PendingSms:
    """What classification reads of a stored SMS."""

    id: int
    sender: str
    sender_msisdn: str | None
    text: str
    port: int
    received_at: datetime
    classify_attempts: int

    @property
    def participant_key(self) -> str:
        """The participant's number: the Guinea mobile number, else the sender as received."""
        return self.sender_msisdn or self.sender


@dataclass
class BatchResult:
    """What :func:`classify_batch` did: outcomes by SMS id, and the SMS left for a later round."""

    outcomes: dict[int, str] = field(default_factory=dict)
    deferred: list[int] = field(default_factory=list)

    @property
    def classified(self) -> int:
        return len(self.outcomes)


class NotParked(DomainError):
    """Only a parked SMS can be put back in the classifier's queue."""

    code = "NOT_PARKED"


# --- statements, built once -----------------------------------------------------------------

_sms = InboundSms.__table__
_participant = Participant.__table__
_code = Code.__table__
_PENDING_COLUMNS = (_sms.c.id, _sms.c.sender, _sms.c.sender_msisdn, _sms.c.text, _sms.c.port, _sms.c.received_at,
                    _sms.c.classify_attempts)
_IS_PENDING = and_(_sms.c.classified_at.is_(None), _sms.c.parked_at.is_(None))
# The queue, in arrival order; on PostgreSQL each worker takes rows no other worker holds.
_CLAIM = (
    select(*_PENDING_COLUMNS)
    .where(_IS_PENDING, or_(_sms.c.classify_after.is_(None), _sms.c.classify_after <= bindparam("now")))
    .order_by(_sms.c.id)
    .limit(bindparam("limit", type_=Integer()))
    .with_for_update(skip_locked=True)
)
_CLAIM_ONE = select(*_PENDING_COLUMNS).where(_sms.c.id == bindparam("id"), _IS_PENDING).with_for_update(skip_locked=True)
# Is an earlier SMS of this number still to classify (claimed by another worker, or
# waiting for a retry)? Then this one waits too: a number's SMS are classified in order.
# Answers the earliest such SMS's next try (NULL: due now), to push this one after it.
_EARLIER_OF_MSISDN = select(_sms.c.classify_after).where(
    _sms.c.sender_msisdn == bindparam("key"), _sms.c.id < bindparam("id"), _IS_PENDING).order_by(_sms.c.id).limit(1)
_EARLIER_OF_FOREIGN = select(_sms.c.classify_after).where(
    _sms.c.sender == bindparam("key"), _sms.c.sender_msisdn.is_(None), _sms.c.id < bindparam("id"),
    _IS_PENDING).order_by(_sms.c.id).limit(1)
_POSTPONE = update(_sms).where(_sms.c.id == bindparam("id")).values(classify_after=bindparam("after"))
# The per-number lock; a number another worker is classifying right now is skipped.
_PARTICIPANT_COLUMNS = (_participant.c.id, _participant.c.valid_entries, _participant.c.opted_out_at,
                        _participant.c.blocked_until, _participant.c.block_notified_at)
_LOCK_PARTICIPANT = select(*_PARTICIPANT_COLUMNS).where(
    _participant.c.msisdn == bindparam("msisdn")).with_for_update(skip_locked=True)
_PARTICIPANT_VALUES = {"msisdn": bindparam("msisdn"), "first_seen_at": bindparam("now"), "valid_entries": 0}
_NEW_PARTICIPANT = {
    name: dialect.insert(_participant).values(_PARTICIPANT_VALUES).on_conflict_do_nothing(
        index_elements=["msisdn"]).returning(*_PARTICIPANT_COLUMNS)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_UPDATE_PARTICIPANT = update(_participant).where(_participant.c.id == bindparam("participant_id"))
# Conditional claim: of two numbers sending the same code at once, one wins.
_CLAIM_CODE = (update(_code).where(_code.c.code_hash == bindparam("hash"), _code.c.used_by.is_(None))
               .values(used_by=bindparam("msisdn"), used_at=bindparam("now")).returning(_code.c.id))
_FIND_CODE = select(_code.c.id, _code.c.used_by, _code.c.batch).where(_code.c.code_hash == bindparam("hash"))
_COUNT_FAILURES = select(func.count()).select_from(Entry.__table__).where(
    Entry.participant_id == bindparam("participant_id"), Entry.created_at > bindparam("since"),
    Entry.outcome.in_([outcome.value for outcome in FAILED_OUTCOMES]))
_INSERT_ENTRY = insert(Entry.__table__)
_INSERT_REPLY = insert(OutboundSms.__table__)
_MARK_CLASSIFIED = (update(_sms).where(_sms.c.id.in_(bindparam("ids", expanding=True)))
                    .values(classified_at=bindparam("now"), classify_error=None, classify_after=None))


# --- the queue ------------------------------------------------------------------------------


def claim_pending(limit: int, now: datetime | None = None) -> list[PendingSms]:
    """Up to ``limit`` SMS to classify, oldest first, locked for this transaction
    (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: other workers take other rows)."""
    begin_write(db.session)
    rows = db.session.execute(_CLAIM, {"now": now or utcnow(), "limit": limit})
    return [PendingSms(*row) for row in rows]


def claim_one(sms_id: int) -> PendingSms | None:
    """The SMS ``sms_id`` if it is still to classify and no other worker holds it."""
    begin_write(db.session)
    row = db.session.execute(_CLAIM_ONE, {"id": sms_id}).first()
    return PendingSms(*row) if row is not None else None


def classify_batch(batch: Sequence[PendingSms], settings: DrawSettings) -> BatchResult:
    """Classify ``batch`` (in id order) and mark each classified SMS so (not committed).

    An SMS is deferred, untouched, when an earlier SMS of its number is still to
    classify or another worker holds its number; a later round takes it. Raises on the
    first error; the caller rolls back and retries the SMS one by one."""
    result = BatchResult()
    waiting: set[str] = set()  # numbers with an earlier SMS not classified in this batch
    seen: set[str] = set()
    for sms in batch:
        key = sms.participant_key
        if key in waiting or (key not in seen and _waits_for_earlier(sms)):
            waiting.add(key)
            result.deferred.append(sms.id)
            continue
        seen.add(key)
        outcome = _classify(sms, settings)
        if outcome is None:  # another worker holds this number
            waiting.add(key)
            result.deferred.append(sms.id)
            continue
        result.outcomes[sms.id] = outcome
    if result.outcomes:
        db.session.execute(_MARK_CLASSIFIED, {"ids": list(result.outcomes), "now": utcnow()})
    return result


def record_failure(sms: PendingSms, error: BaseException, rule: RetryRule, now: datetime | None = None) -> bool:
    """Note that classifying ``sms`` raised ``error``: try again after a backoff, or park
    it after ``rule.max_attempts`` tries. Returns whether it was parked (not committed)."""
    now = now or utcnow()
    attempts = sms.classify_attempts + 1
    parked = attempts >= rule.max_attempts
    message = f"{type(error).__name__}: {error}"[:500]
    db.session.execute(update(_sms).where(_sms.c.id == sms.id).values(
        classify_attempts=attempts, classify_error=message,
        classify_after=None if parked else now + rule.delay(attempts), parked_at=now if parked else None))
    if parked:
        log.error("inbound sms %s parked after %d failed classifications (%s)", sms.id, attempts, type(error).__name__)
    else:
        log.warning("inbound sms %s: classification failed (%s), try %d of %d", sms.id, type(error).__name__,
                    attempts, rule.max_attempts)
    return parked


def retry_parked(sms_id: int) -> InboundSms:
    """Put a parked SMS back in the classifier's queue (an operator's decision; not committed)."""
    sms = db.session.get(InboundSms, sms_id, with_for_update=True)
    if sms is None:
        raise NotFound(f"No inbound SMS has the id {sms_id}.")
    if sms.parked_at is None or sms.classified_at is not None:
        raise NotParked(f"Inbound SMS {sms_id} is not parked.")
    sms.parked_at = None
    sms.classify_after = None
    sms.classify_attempts = 0
    db.session.flush()
    return sms


def pending_count() -> int:
    """SMS still to classify, parked ones excluded."""
    return db.session.scalar(select(func.count()).select_from(_sms).where(_IS_PENDING)) or 0


# --- one SMS --------------------------------------------------------------------------------


def _waits_for_earlier(sms: PendingSms) -> bool:
    """Whether an earlier SMS of the same number is still to classify. If that one waits
    for a retry, this one is postponed to the same time, so the queue's head is not
    taken up by SMS that cannot move."""
    statement = _EARLIER_OF_MSISDN if sms.sender_msisdn else _EARLIER_OF_FOREIGN
    earlier = db.session.execute(statement, {"key": sms.participant_key, "id": sms.id}).first()
    if earlier is None:
        return False
    if earlier.classify_after is not None:
        db.session.execute(_POSTPONE, {"id": sms.id, "after": earlier.classify_after})
    return True


def _lock_participant(msisdn: str, now: datetime) -> Any:
    """The participant row of ``msisdn``, created if new and locked until commit; None
    when another worker holds it."""
    session = db.session
    row = session.execute(_LOCK_PARTICIPANT, {"msisdn": msisdn}).first()
    if row is None:
        statement = _NEW_PARTICIPANT[session.get_bind().dialect.name]
        row = session.execute(statement, {"msisdn": msisdn, "now": now}).first()
    return row


def _classify(sms: PendingSms, settings: DrawSettings) -> str | None:
    """Write the entry of ``sms`` and queue its reply; the outcome, or None if deferred.

    The rules run at the time the SMS reached us (``received_at``), not when the worker
    gets to it: a backlog after an outage changes no outcome."""
    now = sms.received_at
    msisdn = sms.participant_key
    participant = _lock_participant(msisdn, now)
    if participant is None:
        return None
    parsed = parse_message(sms.text, settings.keyword)
    changes: dict[str, Any] = {}
    code_id: int | None = None
    reply_key: Outcome | None = None
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
        outcome, code_id = _check_code(parsed.code, msisdn, participant.id, settings, now)
        if outcome in VALID_OUTCOMES:
            chances += 1
            changes["valid_entries"] = chances
            outcome = Outcome.VALID_FIRST if chances == 1 else Outcome.VALID_AGAIN
        reply_key = outcome
        if outcome in FAILED_OUTCOMES and _reaches_block(participant, settings, now):
            changes["blocked_until"] = now + settings.block_duration
            changes["block_notified_at"] = now
            reply_key = Outcome.BLOCKED
            log.warning("participant %s blocked until %s after %s failed attempts",
                        participant.id, changes["blocked_until"], settings.block_after_failures)

    session = db.session
    if changes:
        session.execute(_UPDATE_PARTICIPANT.values(**changes), {"participant_id": participant.id})
    keeps_code = parsed.kind == "code" and outcome not in _NO_CODE_OUTCOMES
    session.execute(_INSERT_ENTRY, {
        "sms_id": sms.id, "participant_id": participant.id, "msisdn": msisdn, "outcome": outcome.value,
        "code": parsed.code if keeps_code else None, "code_id": code_id, "chances": chances, "created_at": now})
    if reply_key is not None:
        _queue_reply(sms, reply_key, parsed.code if keeps_code else None, chances, settings)
    return outcome.value


def _check_code(code: str, msisdn: str, participant_id: int, settings: DrawSettings,
                now: datetime) -> tuple[Outcome, int | None]:
    """VALID_FIRST (a claim; the caller tells first from again), DUPLICATE,
    ALREADY_USED or INVALID_CODE, and the code's id."""
    digest = hash_code(code, settings.code_key)
    claimed = db.session.execute(_CLAIM_CODE, {"hash": digest, "msisdn": msisdn, "now": now}).scalar()
    if claimed is not None:
        return Outcome.VALID_FIRST, claimed
    row = db.session.execute(_FIND_CODE, {"hash": digest}).first()
    if row is None:
        return Outcome.INVALID_CODE, None
    if row.used_by == msisdn:
        return Outcome.DUPLICATE, row.id
    # A fraud signal; the numbers are in the console (entries of this code), never in the log.
    log.warning("fraud signal: code %s of batch %s, already used by another number, sent by participant %s",
                row.id, row.batch, participant_id)
    return Outcome.ALREADY_USED, row.id


def _reaches_block(participant: Any, settings: DrawSettings, now: datetime) -> bool:
    """Whether this failure is the one that blocks: failures count within the window,
    and only since the last block ended (lapsed or lifted by an operator)."""
    if settings.block_after_failures <= 0:
        return False
    since = now - settings.block_window
    if participant.blocked_until is not None and participant.blocked_until > since:
        since = participant.blocked_until
    earlier = db.session.execute(_COUNT_FAILURES, {"participant_id": participant.id, "since": since}).scalar_one()
    return earlier + 1 >= settings.block_after_failures


def _queue_reply(sms: PendingSms, key: Outcome, code: str | None, chances: int, settings: DrawSettings) -> None:
    if sms.sender_msisdn is None:
        log.info("no reply to sms %s: the sender is not a Guinea mobile number", sms.id)
        return
    hours = int(settings.block_duration.total_seconds() // 3600)
    text = replies.render(key, {"code": code or "", "chances": chances, "hours": hours})
    db.session.execute(_INSERT_REPLY, outbound.message_values(
        msisdn=sms.sender_msisdn, info=analyze(text), port=sms.port, priority=Priority.REPLY, caller=AUTO_REPLY_CALLER,
        now=utcnow(), template_key=key, reply_to_sms_id=sms.id))
