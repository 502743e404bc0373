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

from sqlalchemy import Integer, String, and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Code, Entry, InboundSms, OutboundSms, Outcome, Participant, Priority
from roko_app.models.draw import FAILED_OUTCOMES, VALID_OUTCOMES
from roko_app.services import outbound, replies
from roko_app.services.backoff import doubled
from roko_app.services.code_registry import hash_code
from roko_app.services.errors import DomainError, NotFound
from roko_app.services.inbound import number_lock
from roko_app.services.optimove_callbacks import ReplyForwarding, queue_incoming
from roko_app.sms.encoding import analyze
from roko_app.sms.parsing import ParsedMessage, parse_message

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


#: A classification that raised is tried again within a day at most, whatever the settings.
MAX_CLASSIFY_DELAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetryRule:
    """How often a classification that raised is tried again before it is parked."""

    max_attempts: int = 3
    backoff: timedelta = timedelta(seconds=30)

    def delay(self, attempts: int) -> timedelta:
        """The backoff, doubled after each try, at most a day."""
        return doubled(self.backoff, attempts - 1, MAX_CLASSIFY_DELAY)

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
    gateway_timestamp: datetime

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
_entry = Entry.__table__
_PENDING_COLUMNS = (_sms.c.id, _sms.c.sender, _sms.c.sender_msisdn, _sms.c.text, _sms.c.port, _sms.c.received_at,
                    _sms.c.classify_attempts, _sms.c.gateway_timestamp)
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
# The SMS of the batch's numbers that are still to classify, arrived before the batch's
# last one and are not in it (claimed by another worker, or waiting for a retry): a
# number's SMS are classified in order, so a later one waits for them.
_EARLIER_PENDING = select(_sms.c.id, _sms.c.sender, _sms.c.sender_msisdn, _sms.c.classify_after).where(
    _IS_PENDING, _sms.c.id < bindparam("last_id"), _sms.c.id.not_in(bindparam("batch_ids", expanding=True)),
    or_(_sms.c.sender_msisdn.in_(bindparam("msisdns", expanding=True)),
        and_(_sms.c.sender_msisdn.is_(None), _sms.c.sender.in_(bindparam("foreign", expanding=True)))))
# PostgreSQL: the numbers (lock names) of which a webhook request is storing an SMS right
# now; the others' locks are taken (see _Batch.read_earlier).
_TRY_NUMBER_LOCKS = text(
    "SELECT name FROM unnest(:names) AS name WHERE NOT pg_try_advisory_xact_lock(hashtextextended(name, 0))"
).bindparams(bindparam("names", type_=postgresql.ARRAY(String()))).columns(name=String())
_POSTPONE = update(_sms).where(_sms.c.id == bindparam("sms_id")).values(classify_after=bindparam("after"))
# The per-number lock; numbers another worker is classifying right now are skipped.
_PARTICIPANT_COLUMNS = (_participant.c.id, _participant.c.msisdn, _participant.c.valid_entries,
                        _participant.c.opted_out_at, _participant.c.blocked_until, _participant.c.block_notified_at)
_LOCK_PARTICIPANTS = select(*_PARTICIPANT_COLUMNS).where(
    _participant.c.msisdn.in_(bindparam("msisdns", expanding=True))).with_for_update(skip_locked=True)
_NEW_PARTICIPANTS = {
    name: dialect.insert(_participant).values(
        msisdn=bindparam("msisdn"), first_seen_at=bindparam("first_seen_at"), valid_entries=0,
    ).on_conflict_do_nothing(index_elements=["msisdn"]).returning(*_PARTICIPANT_COLUMNS)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_SAVE_PARTICIPANT = update(_participant).where(_participant.c.id == bindparam("participant_id")).values(
    valid_entries=bindparam("valid_entries"), opted_out_at=bindparam("opted_out_at"),
    blocked_until=bindparam("blocked_until"), block_notified_at=bindparam("block_notified_at"))
# Conditional claim: of two numbers sending the same code at once, one wins.
_CLAIM_CODE = (update(_code).where(_code.c.code_hash == bindparam("hash"), _code.c.used_by.is_(None))
               .values(used_by=bindparam("msisdn"), used_at=bindparam("now")).returning(_code.c.id))
_FIND_CODES = select(_code.c.id, _code.c.code_hash, _code.c.used_by, _code.c.batch).where(
    _code.c.code_hash.in_(bindparam("hashes", expanding=True)))
# The failed attempts that may count towards blocking the batch's numbers.
_RECENT_FAILURES = select(_entry.c.participant_id, _entry.c.created_at).where(
    _entry.c.participant_id.in_(bindparam("participant_ids", expanding=True)),
    _entry.c.created_at > bindparam("since"), _entry.c.outcome.in_([outcome.value for outcome in FAILED_OUTCOMES]))
_INSERT_ENTRY = insert(_entry)
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


def classify_batch(batch: Sequence[PendingSms], settings: DrawSettings,
                   forwarding: ReplyForwarding | None = None) -> BatchResult:
    """Classify ``batch`` (in id order) and mark each classified SMS so (not committed);
    with ``forwarding``, the classified SMS that answer a campaign are queued for Optimove
    in the same transaction.

    An SMS is deferred, untouched, when an earlier SMS of its number is still to
    classify or another worker holds its number; a later round takes it. The batch's
    reads and writes are grouped (one statement each for the whole batch, but the code
    claims); the rules see every earlier SMS of the batch as if it had been written.
    Raises on the first error; the caller rolls back and retries the SMS one by one."""
    result = BatchResult()
    if not batch:
        return result
    work = _Batch(settings)
    ready = work.order_per_number(batch)
    work.lock_participants(ready)
    for sms in ready:
        participant = work.participants.get(sms.participant_key)
        if participant is None:  # another worker holds this number: it and its later SMS wait
            result.deferred.append(sms.id)
            continue
        result.outcomes[sms.id] = work.classify(sms, participant)
    result.deferred.extend(work.waiting)
    work.write(result)
    if forwarding is not None and result.outcomes:
        queue_incoming([sms for sms in ready if sms.id in result.outcomes], forwarding)
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


# --- one batch ------------------------------------------------------------------------------


@dataclass(slots=True)
class _Participant:
    """A locked participant row as the batch sees it, with the batch's changes applied."""

    id: int
    msisdn: str
    valid_entries: int
    opted_out_at: datetime | None
    blocked_until: datetime | None
    block_notified_at: datetime | None
    changed: bool = False

    def saved_values(self) -> dict[str, Any]:
        return {"participant_id": self.id, "valid_entries": self.valid_entries, "opted_out_at": self.opted_out_at,
                "blocked_until": self.blocked_until, "block_notified_at": self.block_notified_at}


@dataclass(slots=True)
class _Code:
    id: int
    used_by: str | None
    batch: str | None


class _Batch:
    """The state of one batch: what it read once (participants, codes, recent failures)
    and what it will write at the end (entries, replies, participants, marks)."""

    def __init__(self, settings: DrawSettings) -> None:
        self.settings = settings
        self.session = db.session
        self.waiting: list[int] = []  # SMS left for a later round
        self.participants: dict[str, _Participant] = {}
        self.codes: dict[str, _Code | None] = {}
        self.failures: dict[int, list[datetime]] | None = None  # read on the batch's first failure
        self.parsed: dict[int, ParsedMessage] = {}
        self.earliest_at: datetime | None = None  # of the batch's SMS
        self.entries: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []

    def order_per_number(self, batch: Sequence[PendingSms]) -> list[PendingSms]:
        """The SMS that can be classified now: those with no earlier SMS of their number
        still to classify outside the batch, nor one being stored. A waiting SMS is
        postponed to the next try of the SMS it waits for, so the queue's head is not
        taken up by SMS that cannot move."""
        being_stored, rows = self.read_earlier(batch)
        earliest: dict[str, Any] = {}
        for row in rows:
            key = row.sender_msisdn or row.sender
            if key not in earliest or row.id < earliest[key].id:
                earliest[key] = row
        ready: list[PendingSms] = []
        postpone: list[dict[str, Any]] = []
        blocked_keys: set[str] = set()
        self.earliest_at = min(sms.received_at for sms in batch)
        for sms in batch:
            key = sms.participant_key
            earlier = earliest.get(key)
            if key in being_stored or key in blocked_keys or (earlier is not None and earlier.id < sms.id):
                blocked_keys.add(key)
                self.waiting.append(sms.id)
                if earlier is not None and earlier.id < sms.id and earlier.classify_after is not None:
                    postpone.append({"sms_id": sms.id, "after": earlier.classify_after})
                continue
            ready.append(sms)
        if postpone:
            self.session.execute(_POSTPONE, postpone)
        return ready

    def read_earlier(self, batch: Sequence[PendingSms]) -> tuple[set[str], list[Any]]:
        """The SMS still to classify of the batch's numbers that arrived before its last
        one and are not in it; and, on PostgreSQL, the batch's numbers of which a webhook
        request is storing an SMS at this moment (their SMS wait for a later round, which
        the request's commit wakes). SQLite needs no such check: its writers take turns,
        so ids are drawn in the order SMS are committed.

        A request draws its SMS's id when it inserts and the row becomes visible when it
        commits, so an SMS with a smaller id than one claimed here may still appear. Each
        request holds its number's lock, shared, from before drawing the id until it
        commits (``_INSERT`` in :mod:`roko_app.services.inbound`). Taking that lock here,
        exclusively and without waiting, succeeds only when no request of the number is
        between the two; a request that comes after draws a larger id. So the search for
        earlier SMS, run after the locks are taken (a statement of its own, seeing every
        commit before it), finds every SMS of the number with a smaller id. The locks are
        needed for that moment only: they are taken in a savepoint that is rolled back
        right after the search, which releases them, so that a request of the number
        waits for one statement at most and two classifiers do not hold back each
        other's numbers."""
        params = {"last_id": batch[-1].id, "batch_ids": [sms.id for sms in batch],
                  "msisdns": sorted({sms.sender_msisdn for sms in batch if sms.sender_msisdn}),
                  "foreign": sorted({sms.sender for sms in batch if not sms.sender_msisdn})}
        if self.session.get_bind().dialect.name != "postgresql":
            return set(), list(self.session.execute(_EARLIER_PENDING, params))
        names = {number_lock(sms.participant_key): sms.participant_key for sms in batch}
        savepoint = self.session.begin_nested()
        try:
            busy = {names[name] for name in self.session.scalars(_TRY_NUMBER_LOCKS, {"names": sorted(names)})}
            rows = list(self.session.execute(_EARLIER_PENDING, params))
        finally:
            savepoint.rollback()  # releases the locks
        return busy, rows

    def lock_participants(self, ready: Sequence[PendingSms]) -> None:
        """Lock the participant rows of ``ready`` (creating the new ones), skipping the
        numbers another worker holds. New rows are inserted in number order, so two
        workers creating the same numbers wait on each other in one order (no deadlock)."""
        first_seen: dict[str, datetime] = {}
        for sms in ready:
            first_seen.setdefault(sms.participant_key, sms.received_at)
        if not first_seen:
            return
        rows = list(self.session.execute(_LOCK_PARTICIPANTS, {"msisdns": sorted(first_seen)}))
        missing = sorted(set(first_seen) - {row.msisdn for row in rows})
        if missing:
            statement = _NEW_PARTICIPANTS[self.session.get_bind().dialect.name]
            rows += list(self.session.execute(
                statement, [{"msisdn": msisdn, "first_seen_at": first_seen[msisdn]} for msisdn in missing]))
        self.participants = {row.msisdn: _Participant(*row) for row in rows}
        hashes = set()
        for sms in ready:
            parsed = self.parsed[sms.id] = parse_message(sms.text, self.settings.keyword)
            if parsed.kind == "code" and parsed.code and sms.participant_key in self.participants:
                hashes.add(hash_code(parsed.code, self.settings.code_key))
        if hashes:
            found = self.session.execute(_FIND_CODES, {"hashes": sorted(hashes)})
            self.codes = {row.code_hash: _Code(row.id, row.used_by, row.batch) for row in found}

    def classify(self, sms: PendingSms, participant: _Participant) -> str:
        """The entry of ``sms`` and its reply, to be written with the batch; the outcome.

        The rules run at the time the SMS reached us (``received_at``), not when the
        worker gets to it: a backlog after an outage changes no outcome."""
        settings = self.settings
        now = sms.received_at
        parsed = self.parsed[sms.id]
        code_id: int | None = None
        reply_key: Outcome | None = None

        if parsed.kind == "opt_out":
            outcome = Outcome.OPT_OUT
            if participant.opted_out_at is None:
                participant.opted_out_at = now
                participant.changed = True
                reply_key = Outcome.OPT_OUT
        elif parsed.kind == "opt_in":
            # The way back after an opt-out; confirmed even when already subscribed.
            outcome = reply_key = Outcome.OPT_IN
            if participant.opted_out_at is not None:
                participant.opted_out_at = None
                participant.changed = True
        elif participant.blocked_until is not None and now < participant.blocked_until:
            outcome = Outcome.BLOCKED
            if participant.block_notified_at is None:
                participant.block_notified_at = now
                participant.changed = True
                reply_key = Outcome.BLOCKED
        elif settings.start is not None and now < settings.start:
            outcome = reply_key = Outcome.CAMPAIGN_NOT_STARTED
        elif settings.end is not None and now >= settings.end:
            outcome = reply_key = Outcome.CAMPAIGN_CLOSED
        elif parsed.kind != "code" or parsed.code is None:
            outcome = reply_key = Outcome.BAD_FORMAT
        else:
            outcome, code_id = self._check_code(parsed.code, participant, now)
            if outcome in VALID_OUTCOMES:
                participant.valid_entries += 1
                participant.changed = True
                outcome = Outcome.VALID_FIRST if participant.valid_entries == 1 else Outcome.VALID_AGAIN
            reply_key = outcome
            if outcome in FAILED_OUTCOMES and self._counts_failure(participant, now):
                participant.blocked_until = now + settings.block_duration
                participant.block_notified_at = now
                participant.changed = True
                reply_key = Outcome.BLOCKED
                log.warning("participant %s blocked until %s after %s failed attempts",
                            participant.id, participant.blocked_until, settings.block_after_failures)

        keeps_code = parsed.kind == "code" and outcome not in _NO_CODE_OUTCOMES
        code = parsed.code if keeps_code else None
        self.entries.append({
            "sms_id": sms.id, "participant_id": participant.id, "msisdn": participant.msisdn,
            "outcome": outcome.value, "code": code, "code_id": code_id, "chances": participant.valid_entries,
            "created_at": now})
        if reply_key is not None:
            self._queue_reply(sms, reply_key, code, participant.valid_entries)
        return outcome.value

    def _check_code(self, code: str, participant: _Participant, now: datetime) -> tuple[Outcome, int | None]:
        """VALID_FIRST (a claim; the caller tells first from again), DUPLICATE,
        ALREADY_USED or INVALID_CODE, and the code's id."""
        digest = hash_code(code, self.settings.code_key)
        known = self.codes.get(digest)
        if known is None:
            return Outcome.INVALID_CODE, None
        if known.used_by is None:
            claimed = self.session.execute(_CLAIM_CODE, {"hash": digest, "msisdn": participant.msisdn,
                                                         "now": now}).scalar()
            if claimed is not None:
                known.used_by = participant.msisdn
                return Outcome.VALID_FIRST, claimed
            # Claimed by another worker since the batch read it: read who.
            row = self.session.execute(_FIND_CODES, {"hashes": [digest]}).one()
            known.used_by = row.used_by
        if known.used_by == participant.msisdn:
            return Outcome.DUPLICATE, known.id
        # A fraud signal; the numbers are in the console (entries of this code), never in the log.
        log.warning("fraud signal: code %s of batch %s, already used by another number, sent by participant %s",
                    known.id, known.batch, participant.id)
        return Outcome.ALREADY_USED, known.id

    def _counts_failure(self, participant: _Participant, now: datetime) -> bool:
        """Record a failed attempt; whether it is the one that blocks the number.

        Failures count within the window, and only since the last block ended (lapsed
        or lifted by an operator); the batch's own failures count as soon as they happen."""
        settings = self.settings
        if settings.block_after_failures <= 0:
            return False
        since = now - settings.block_window
        if participant.blocked_until is not None and participant.blocked_until > since:
            since = participant.blocked_until
        failures = self._failures_of(participant.id)
        earlier = sum(1 for at in failures if at > since)
        failures.append(now)
        return earlier + 1 >= settings.block_after_failures

    def _failures_of(self, participant_id: int) -> list[datetime]:
        """The times of the participant's failed attempts: the stored ones, read for every
        participant of the batch at once on its first failure, and the batch's own."""
        if self.failures is None:
            assert self.earliest_at is not None
            self.failures = {participant.id: [] for participant in self.participants.values()}
            rows = self.session.execute(_RECENT_FAILURES, {
                "participant_ids": sorted(self.failures), "since": self.earliest_at - self.settings.block_window})
            for row in rows:
                self.failures[row.participant_id].append(row.created_at)
        return self.failures[participant_id]

    def _queue_reply(self, sms: PendingSms, key: Outcome, code: str | None, chances: int) -> None:
        if sms.sender_msisdn is None:
            log.info("no reply to sms %s: the sender is not a Guinea mobile number", sms.id)
            return
        hours = int(self.settings.block_duration.total_seconds() // 3600)
        text = replies.render(key, {"code": code or "", "chances": chances, "hours": hours})
        self.replies.append(outbound.message_values(
            msisdn=sms.sender_msisdn, info=analyze(text), port=sms.port, priority=Priority.REPLY,
            caller=AUTO_REPLY_CALLER, now=utcnow(), template_key=key, reply_to_sms_id=sms.id))

    def write(self, result: BatchResult) -> None:
        """One statement per kind of row for the whole batch."""
        session = self.session
        changed = [participant.saved_values() for participant in self.participants.values() if participant.changed]
        if changed:
            session.execute(_SAVE_PARTICIPANT, changed)
        if self.entries:
            session.execute(_INSERT_ENTRY, self.entries)
        if self.replies:
            session.execute(_INSERT_REPLY, self.replies)
        if result.outcomes:
            session.execute(_MARK_CLASSIFIED, {"ids": list(result.outcomes), "now": utcnow()})
