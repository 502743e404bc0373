"""Outgoing SMS: validating, queueing, and one delivery attempt through the gateway.

The outbox is the only way out. A message is a QUEUED row first; a sender (the send
API inline, or the worker) claims it (SENDING, with a lease), commits, calls the
gateway with the row's ``client_ref``, and records the outcome:

* sent       → SENT with the gateway's id;
* rejected   → FAILED with the gateway's reason (never retried automatically);
* transient  → QUEUED again with an exponential backoff, or FAILED once the attempts
  are used up (the dead letter; an operator can re-queue it).

Because the claim is committed before the gateway is called, a crash mid-call leaves a
SENDING row whose lease lapses; the retry carries the same ``client_ref`` so the gateway
drops it if the first call had gone through.

The worker's side (:mod:`roko_app.worker` drives these; none of them commits):

* :func:`claim_due` selects the due rows (QUEUED and ``next_attempt_at <= now``, or
  SENDING whose lease lapsed), most urgent first, ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL and under ``BEGIN IMMEDIATE`` on SQLite, and starts an attempt on each;
* a claim is identified by ``(id, attempts)``: every claim increments ``attempts``, so a
  sender whose lease lapsed and was reclaimed by another no longer matches.
  :func:`renew_claims`, :func:`release_claims` and :func:`is_still_claimed` act only on
  rows that still match;
* :func:`requeue_failed` is the operator's way out of the dead letter.

Consent, one rule for every path (:func:`check_consent`): a number that opted out
(``Participant.opted_out_at``) is sent nothing but the answers to its own SMS (the STOP
confirmation, replies to its later texts: :attr:`Purpose.REPLY`, with
``reply_to_sms_id``) and a lucky draw's winner notice (:attr:`Purpose.WINNER_NOTICE`).
Every caller says why it sends (``purpose``, stored on the row); the default is an
operator's message. The rule is checked twice: when a message is queued (the caller is
told, :class:`OptedOut`) and when a sender claims it (:func:`claim_due`): a message
queued before its number opted out, and not one the number still gets, is CANCELLED
then (``last_error`` ``CANCELLED_OPTED_OUT``) instead of sent. If the number opted back in
(START) before the message's turn, it goes out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select, tuple_, update
from sqlalchemy.orm.attributes import set_committed_value

from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.gateway.topaz import SendResult, StatusResult, TopazClient
from roko_app.models import CampaignBatch, OutboundSms, OutboundStatus, Participant, Priority, Purpose
from roko_app.models.outbound import CANCELLED_OPTED_OUT, FINAL_STATUSES
from roko_app.services.backoff import doubled
from roko_app.services.errors import DomainError, NotFound
from roko_app.sms.encoding import SegmentInfo, analyze
from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn

log = logging.getLogger(__name__)


class TextDoesNotFit(DomainError):
    """The text needs more than one SMS segment."""

    code = "TEXT_TOO_LONG"

    def __init__(self, info: SegmentInfo) -> None:
        unit = "septets" if info.encoding == "GSM-7" else "UTF-16 units"
        super().__init__(
            f"The text is {info.units} {unit} in {info.encoding}; one SMS holds {info.limit} "
            f"(it would take {info.segments} SMS)."
        )
        self.info = info


class EmptyText(DomainError):
    code = "VALIDATION_ERROR"


#: What an opted-out number is still sent; nothing else.
SENT_DESPITE_OPT_OUT = frozenset({Purpose.REPLY, Purpose.WINNER_NOTICE})


class OptedOut(DomainError):
    """Some numbers opted out (``msisdns``, sorted) and the message is not one they still get."""

    code = "OPTED_OUT"

    def __init__(self, msisdns: Iterable[str]) -> None:
        self.msisdns = sorted(msisdns)
        super().__init__(f"{len(self.msisdns)} number(s) opted out (sent STOP); they only get answers to their own "
                         "SMS and winner notices.")


def consent_allows(purpose: Purpose | str, opted_out: bool) -> bool:
    """The consent rule itself: whether a message for ``purpose`` may go to a number
    (an unknown purpose is not one an opted-out number still gets)."""
    return not opted_out or purpose in SENT_DESPITE_OPT_OUT


def opted_out_among(msisdns: Iterable[str]) -> set[str]:
    """The numbers of ``msisdns`` (normalised) that opted out."""
    wanted = sorted(set(msisdns))
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(db.session.scalars(select(Participant.msisdn).where(
            Participant.msisdn.in_(wanted[start:start + 500]), Participant.opted_out_at.is_not(None))))
    return found


def opted_out_numbers() -> set[str]:
    """Every number that opted out (for bulk paths that check many recipients)."""
    return set(db.session.scalars(select(Participant.msisdn).where(Participant.opted_out_at.is_not(None))))


def check_consent(msisdns: Iterable[str], purpose: Purpose) -> None:
    """Raise :class:`OptedOut` naming the numbers of ``msisdns`` that may not get a
    message for ``purpose`` (see the module docstring)."""
    if consent_allows(purpose, opted_out=True):
        return
    refused = opted_out_among(msisdns)
    if refused:
        raise OptedOut(refused)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(seconds=60)

    def backoff(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s, ... capped: the delay before attempt ``attempts + 1``."""
        return doubled(self.backoff_base, attempts - 1, self.backoff_max)

    @classmethod
    def from_config(cls, config: dict[str, object]) -> RetryPolicy:
        return cls(
            max_attempts=int(config["SEND_MAX_ATTEMPTS"]),  # type: ignore[call-overload]
            backoff_base=timedelta(seconds=float(config["SEND_BACKOFF_SECONDS"])),  # type: ignore[arg-type]
            backoff_max=timedelta(seconds=float(config["SEND_BACKOFF_MAX_SECONDS"])),  # type: ignore[arg-type]
            lease=timedelta(seconds=float(config["SEND_LEASE_SECONDS"])),  # type: ignore[arg-type]
        )


def check_text(text: str) -> SegmentInfo:
    """The text's analysis if it fits one SMS; raises otherwise."""
    if not text.strip():
        raise EmptyText("The text must not be empty.")
    info = analyze(text)
    if not info.fits:
        raise TextDoesNotFit(info)
    return info


def queue_message(
    *,
    phone_number: str,
    text: str,
    port: int,
    template_key: str | None = None,
    caller: str | None = None,
    priority: int = Priority.API,
    not_before: datetime | None = None,
    purpose: Purpose = Purpose.OPERATOR,
    reply_to_sms_id: int | None = None,
) -> OutboundSms:
    """Validate and add a QUEUED row (flushed, not committed).

    Raises ``InvalidMsisdn`` for a bad number, ``TextDoesNotFit``/``EmptyText`` for a
    bad text and :class:`OptedOut` when the number opted out and ``purpose`` is not
    one it still gets. A :attr:`Purpose.REPLY` names the SMS it answers
    (``reply_to_sms_id``).
    """
    if purpose == Purpose.REPLY and reply_to_sms_id is None:
        raise ValueError("a REPLY names the SMS it answers (reply_to_sms_id)")
    msisdn = normalize_msisdn(phone_number)
    info = check_text(text)
    check_consent([msisdn], purpose)
    extra = {} if reply_to_sms_id is None else {"reply_to_sms_id": reply_to_sms_id}
    message = OutboundSms(**message_values(msisdn=msisdn, info=info, port=port, priority=priority, caller=caller,
                                           template_key=template_key, not_before=not_before, now=utcnow(),
                                           purpose=purpose, **extra))
    db.session.add(message)
    db.session.flush()
    return message


def message_values(*, msisdn: str, info: SegmentInfo, port: int, priority: int, caller: str | None,
                   now: datetime, template_key: str | None = None, not_before: datetime | None = None,
                   purpose: Purpose | None = None, **extra: Any) -> dict[str, Any]:
    """The column values of a new QUEUED outbox row, for the ORM or a Core (bulk) insert.

    ``msisdn`` is already normalised and ``info`` is the text's analysis (it fits).
    Without a ``purpose``, a row that answers an SMS (``reply_to_sms_id``) is a
    :attr:`Purpose.REPLY`, any other an :attr:`Purpose.OPERATOR` message."""
    if purpose is None:
        purpose = Purpose.REPLY if extra.get("reply_to_sms_id") is not None else Purpose.OPERATOR
    return {
        "to_msisdn": msisdn, "text": info.text, "encoding": info.encoding, "units": info.units,
        "status": OutboundStatus.QUEUED.value, "priority": int(Priority(priority)), "port": port,
        "template_key": template_key, "caller": caller, "attempts": 0, "not_before": not_before,
        "purpose": Purpose(purpose).value,
        "next_attempt_at": max(not_before, now) if not_before else now, "created_at": now, "updated_at": now,
        **extra,
    }


def start_attempt(message: OutboundSms, policy: RetryPolicy, now: datetime | None = None) -> None:
    """Claim ``message`` for one delivery attempt (the caller commits before sending).

    Reclaiming a SENDING message (its sender's lease lapsed) marks it ``maybe_sent``:
    that sender may have died after the gateway accepted it."""
    now = now or utcnow()
    if message.status == OutboundStatus.SENDING:
        message.maybe_sent = True
    message.status = OutboundStatus.SENDING
    message.attempts += 1
    message.lease_expires_at = now + policy.lease
    message.updated_at = now


def deliver(message: OutboundSms, client: TopazClient, policy: RetryPolicy) -> SendResult:
    """Call the gateway for a claimed message and record the outcome (not committed)."""
    return attempt_delivery(message, client, policy)[0]


def attempt_delivery(message: OutboundSms, client: TopazClient, policy: RetryPolicy) -> tuple[SendResult, bool]:
    """:func:`deliver`, also saying whether the outcome was recorded (see :func:`record_outcome`)."""
    result = client.send(client_ref=message.client_ref, to=message.to_msisdn, text=message.text,
                         encoding=message.encoding, port=message.port)
    check = None
    if result.is_transient and message.attempts >= policy.max_attempts and (message.maybe_sent or result.ambiguous):
        # About to give up on a message that may have gone out: ask the gateway first.
        check = client.status(message.client_ref)
    return result, record_outcome(message, result, policy, check=check)


def record_outcome(message: OutboundSms, result: SendResult, policy: RetryPolicy,
                   now: datetime | None = None, *, check: StatusResult | None = None) -> bool:
    """Record one attempt's outcome on the claimed ``message`` (not committed).

    One conditional UPDATE, ``WHERE status = 'SENDING' AND attempts = <this claim>``, so
    the outcome never overwrites what happened meanwhile: another sender's claim (our
    lease lapsed; False is returned and nothing is written) or a delivery report that
    arrived before the send's answer (the message keeps the reported status, and only
    learns its ``gateway_sms_id`` and ``sent_at``; False too). ``message`` then shows
    the row as it is in the database.

    ``check`` is the gateway's answer to the status query when a transient failure used
    the last attempt of a message that may have gone out (``maybe_sent``, or this
    attempt was ambiguous): see :func:`_give_up`.
    """
    now = now or utcnow()
    values: dict[str, Any] = {"lease_expires_at": None, "updated_at": now}
    if result.is_sent:
        values.update(status=OutboundStatus.SENT, gateway_sms_id=result.gateway_sms_id, sent_at=now, last_error=None)
    elif result.is_rejected:
        values.update(status=OutboundStatus.FAILED, last_error=_clip(f"rejected by the gateway: {result.reason}"))
        log.warning("outbound %s rejected by the gateway: %s", message.id, result.reason)
    elif message.attempts >= policy.max_attempts:
        values.update(_give_up(message, result, check, now))
    else:
        values.update(status=OutboundStatus.QUEUED, next_attempt_at=now + policy.backoff(message.attempts),
                      last_error=_clip(f"transient: {result.reason}"))
        log.info("outbound %s will be retried at %s: %s", message.id, values["next_attempt_at"], result.reason)
    if result.ambiguous:
        values["maybe_sent"] = True
    return _write_outcome(message, values)


def _give_up(message: OutboundSms, result: SendResult, check: StatusResult | None,
             now: datetime) -> dict[str, Any]:
    """The last attempt failed: FAILED, unless the gateway says it has the message
    (then what it says), or it may have gone out and the gateway could not be asked
    (UNCERTAIN: delivery unknown, to be checked, never FAILED)."""
    gave_up = f"gave up after {message.attempts} attempts: {result.reason}"
    if check is not None and check.state == "unknown" and result.ambiguous:
        # Asked right after this attempt timed out: the gateway may still be processing it.
        check = StatusResult("unreachable", reason="no record of it yet, just after this attempt's timeout")
    if check is None or check.state == "unknown":
        known = "" if check is None else "; the gateway has no record of it"
        log.error("outbound %s failed after %s attempts: %s%s", message.id, message.attempts, result.reason, known)
        return {"status": OutboundStatus.FAILED, "last_error": _clip(gave_up + known)}
    if check.state == "unreachable":
        log.error("outbound %s: out of attempts, may have gone out, the gateway could not be asked (%s): UNCERTAIN",
                  message.id, check.reason)
        return {"status": OutboundStatus.UNCERTAIN,
                "last_error": _clip(f"{gave_up}; an earlier attempt may have gone out and the gateway could not be "
                                    f"asked ({check.reason})")}
    log.warning("outbound %s: out of attempts, but the gateway has it (%s)", message.id, check.state)
    return _as_checked(check, now)


def _as_checked(check: StatusResult, now: datetime) -> dict[str, Any]:
    """The row values when the status query says the gateway has the message."""
    values: dict[str, Any] = {"status": _CHECKED[check.state], "last_error": None}
    if check.gateway_sms_id is not None:
        values["gateway_sms_id"] = check.gateway_sms_id
    if check.state in ("queued", "sent"):
        values["sent_at"] = now
    else:
        values.update(delivered_at=check.at or now)
    return values


def uncertain_due(now: datetime, quiet_for: timedelta, limit: int) -> list[tuple[int, str]]:
    """``(id, client_ref)`` of UNCERTAIN messages untouched for ``quiet_for``, oldest first."""
    statement = (select(OutboundSms.id).where(OutboundSms.status == OutboundStatus.UNCERTAIN,
                                              OutboundSms.updated_at <= now - quiet_for)
                 .order_by(OutboundSms.updated_at, OutboundSms.id).limit(limit))
    return [(message_id, f"roko-out-{message_id}") for message_id in db.session.scalars(statement)]


def settle_uncertain(message_id: int, check: StatusResult, now: datetime | None = None) -> str | None:
    """Apply the status query's answer to an UNCERTAIN message: what the gateway has
    (SENT, DELIVERED, ...), or QUEUED with a fresh attempt budget when it has no record
    (never sent: sending it is safe, with the same ``client_ref``); unreachable: it
    stays UNCERTAIN until the next check. The new status, or None when nothing changed
    (one conditional UPDATE: a report that came meanwhile wins). Not committed."""
    now = now or utcnow()
    if check.state == "unreachable":
        values: dict[str, Any] = {"updated_at": now}
    elif check.state == "unknown":
        values = {"status": OutboundStatus.QUEUED, "attempts": 0, "next_attempt_at": now, "maybe_sent": False,
                  "last_error": _clip("re-queued: the gateway has no record of it (status query)")}
    else:
        values = _as_checked(check, now)
    statement = (update(OutboundSms)
                 .where(OutboundSms.id == message_id, OutboundSms.status == OutboundStatus.UNCERTAIN)
                 .values(**{key: getattr(value, "value", value) for key, value in {**values, "updated_at": now}.items()})
                 .returning(OutboundSms.id)
                 .execution_options(synchronize_session=False))
    changed = db.session.execute(statement).first() is not None and "status" in values
    if changed:
        log.info("outbound %s: UNCERTAIN settled by the status query (%s): %s", message_id, check.state,
                 values["status"])
    return str(values["status"]) if changed else None


#: The status query's answer → our status, when the gateway has the message.
_CHECKED = {"queued": OutboundStatus.SENT, "sent": OutboundStatus.SENT, "delivered": OutboundStatus.DELIVERED,
            "failed": OutboundStatus.UNDELIVERED, "expired": OutboundStatus.EXPIRED}


_outbox = OutboundSms.__table__


@functools.lru_cache(maxsize=64)
def _outcome_statement(columns: tuple[str, ...]) -> Any:
    """The conditional UPDATE of an attempt's outcome setting ``columns``: a Core
    statement built once per set of columns (a handful: sent, retry, failed, ...), since
    it runs once per message sent. Binds ``outcome_<column>``, ``message_id``, ``claim``."""
    return (update(_outbox)
            .where(_outbox.c.id == bindparam("message_id"), _outbox.c.status == OutboundStatus.SENDING.value,
                   _outbox.c.attempts == bindparam("claim"))
            .values({name: bindparam(f"outcome_{name}", type_=_outbox.c[name].type) for name in columns})
            .returning(_outbox.c.id))


def _write_outcome(message: OutboundSms, values: dict[str, Any]) -> bool:
    columns = tuple(sorted(values))
    params = {f"outcome_{name}": getattr(values[name], "value", values[name]) for name in columns}
    if db.session.execute(_outcome_statement(columns),
                          {**params, "message_id": message.id, "claim": message.attempts}).first() is not None:
        for key, value in values.items():
            set_committed_value(message, key, value)
        return True
    if values["status"] == OutboundStatus.SENT and "gateway_sms_id" in values:
        # A report got there first: keep its status, learn what the answer tells.
        db.session.execute(update(OutboundSms)
                           .where(OutboundSms.id == message.id, OutboundSms.status.in_(_FINAL))
                           .values(gateway_sms_id=func.coalesce(OutboundSms.gateway_sms_id, values["gateway_sms_id"]),
                                   sent_at=func.coalesce(OutboundSms.sent_at, values["sent_at"]))
                           .execution_options(synchronize_session=False))
    attempt = message.attempts
    db.session.refresh(message)
    log.info("outbound %s: the outcome of attempt %s is not recorded, the row is %s now", message.id, attempt,
             message.status)
    return False


_FINAL = [status.value for status in FINAL_STATUSES]


#: What an operator may send again: the dead letter, and messages whose delivery is
#: uncertain (safe: the same client_ref, so the gateway drops it if it has it).
REQUEUEABLE = frozenset({OutboundStatus.FAILED, OutboundStatus.UNCERTAIN})


class NotRequeueable(DomainError):
    """Only a FAILED message (the dead letter) can be re-queued by hand."""

    code = "NOT_FAILED"


def claim_due(batch_size: int, now: datetime | None = None, policy: RetryPolicy | None = None) -> list[OutboundSms]:
    """Claim up to ``batch_size`` due messages for one sender (flushed, not committed).

    Due: QUEUED with ``next_attempt_at <= now``, or SENDING with ``lease_expires_at <
    now`` (its sender died; the row keeps its id, so its ``client_ref`` and the
    gateway's dedup protect the farmer from a second SMS). Lapsed leases first (rare,
    and overdue), then the queue by priority, highest first, each level in
    ``next_attempt_at``, id order. Each claimed row gets :func:`start_attempt`
    (SENDING, ``attempts + 1``, lease ``now + policy.lease``). The batch is returned
    most urgent first: priority descending, then ``next_attempt_at``, then id.

    Consent is checked here, at send time, in the claim's transaction: a claimed row
    whose number opted out since it was queued, and whose purpose that number no longer
    gets, is CANCELLED (``last_error`` ``CANCELLED_OPTED_OUT``) instead of claimed, and the claim
    takes the next due rows in its place (the opt-out is read by the claim's own query:
    no query of its own, none per message).

    One query per priority level, each a range of ``ix_outbound_sms_queue (status,
    priority, next_attempt_at, id)`` read in order and stopped at the batch size: with
    a 100,000-recipient campaign queued, a claim reads the rows it takes, instead of
    sorting every due row (110 ms per claim on PostgreSQL with one query ordered by
    priority first; see bench/README.md).

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent claimers on any
    number of hosts each get different rows (a row another claimer just committed is
    re-checked against the WHERE clause and dropped). SQLite has no row locks: the
    transaction is opened with ``BEGIN IMMEDIATE`` (the database's write lock), so even
    two SQLite workers never claim the same row; they merely take turns. The caller commits before
    calling the gateway.
    """
    now = now or utcnow()
    policy = policy or RetryPolicy()
    begin_write(db.session)
    messages: list[OutboundSms] = []
    while len(messages) < batch_size:
        found = _select_due(batch_size - len(messages), now)
        kept = _withdraw_refused(found, now)
        for message in kept:
            if message.status == OutboundStatus.SENDING:
                log.warning("outbound %s: the lease of attempt %s lapsed (its sender died?); reclaimed",
                            message.id, message.attempts)
            start_attempt(message, policy, now)
        messages.extend(kept)
        if len(kept) == len(found):
            break  # nothing was cancelled: the rows found are all there is, up to the batch size
        db.session.flush()  # before selecting again: the rows claimed and cancelled are no longer due
    messages.sort(key=lambda message: (-message.priority, message.next_attempt_at, message.id))
    db.session.flush()
    return messages


def _select_due(limit: int, now: datetime) -> list[tuple[OutboundSms, bool, str | None]]:
    """Up to ``limit`` due rows, locked: lapsed leases first, then each priority level;
    each with whether consent now refuses it (:data:`_REFUSED`) and, for a campaign
    message whose batch was cancelled, who cancelled it (:data:`_BATCH_CANCELLED_BY`)."""
    lapsed = and_(OutboundSms.status == OutboundStatus.SENDING, OutboundSms.lease_expires_at < now)
    found = [(row[0], bool(row[1]), row[2]) for row in db.session.execute(_claim_query(lapsed, limit))]
    for priority in _PRIORITIES_FIRST_TO_LAST:
        if len(found) >= limit:
            break
        queued = and_(OutboundSms.status == OutboundStatus.QUEUED, OutboundSms.priority == int(priority),
                      OutboundSms.next_attempt_at <= now)
        found.extend((row[0], bool(row[1]), row[2])
                     for row in db.session.execute(_claim_query(queued, limit - len(found))))
    return found


def _withdraw_refused(found: list[tuple[OutboundSms, bool, str | None]], now: datetime) -> list[OutboundSms]:
    """The rules at send time: of the claimed rows ``found``, withdraw a campaign message
    whose batch was cancelled since (``last_error`` ``cancelled by <who>``, as the cancel
    writes it: a message that failed transiently was SENDING when the batch was
    cancelled, and came back to the queue) and one that consent refuses now (``last_error``
    ``CANCELLED_OPTED_OUT``); return the others.

    Withdrawn is CANCELLED, unless the message may already be with the gateway (a lapsed
    lease: its sender died mid-call; or ``maybe_sent``: an earlier attempt timed out or
    its answer could not be read). Such a one is not sent again, and not called
    cancelled either, which would tell Optimove "not sent" about an SMS the farmer may
    have and ignore its delivery report: it becomes UNCERTAIN, so the status query asks
    the gateway. If the gateway has it, it takes the gateway's status; if not, it comes
    back to the queue with ``maybe_sent`` cleared, and its next claim cancels it."""
    kept = []
    for message, refused, cancelled_by in found:
        if cancelled_by is None and not refused:
            kept.append(message)
            continue
        why = f"cancelled by {cancelled_by}" if cancelled_by is not None else CANCELLED_OPTED_OUT
        message.lease_expires_at = None
        message.updated_at = now
        if message.maybe_sent or message.status == OutboundStatus.SENDING:
            message.status = OutboundStatus.UNCERTAIN
            message.last_error = _clip(f"{why}; an earlier attempt may have gone out: the gateway is asked first")
            log.info("outbound %s (%s) withdrawn after an attempt that may have gone out: UNCERTAIN until the "
                     "gateway is asked", message.id, message.purpose)
            continue
        message.status = OutboundStatus.CANCELLED
        message.last_error = _clip(why)
        log.info("outbound %s (%s) cancelled: %s after it was queued", message.id, message.purpose,
                 "its batch was cancelled" if cancelled_by is not None else "its number opted out")
    return kept


_PRIORITIES_FIRST_TO_LAST = sorted(Priority, reverse=True)

#: :func:`consent_allows` in SQL, read with the claim: the row is not one an opted-out
#: number still gets, and its number opted out (one probe of the participant's unique
#: msisdn index per row; no query of its own).
_REFUSED = and_(
    OutboundSms.purpose.not_in(sorted(purpose.value for purpose in SENT_DESPITE_OPT_OUT)),
    exists().where(Participant.msisdn == OutboundSms.to_msisdn, Participant.opted_out_at.is_not(None)),
)


#: Who cancelled the campaign batch of a row, if it was cancelled (NULL otherwise: the
#: row is no campaign message, or its batch stands); one probe of the batch's key.
_BATCH_CANCELLED_BY = (
    select(CampaignBatch.cancelled_by)
    .where(CampaignBatch.id == OutboundSms.campaign_batch_id, CampaignBatch.cancelled_at.is_not(None))
    .scalar_subquery()
)


def _claim_query(condition: Any, limit: int) -> Any:
    return (
        select(OutboundSms, _REFUSED.label("refused"), _BATCH_CANCELLED_BY.label("batch_cancelled_by"))
        .where(condition)
        .order_by(OutboundSms.next_attempt_at, OutboundSms.id)
        .limit(limit)
        # PostgreSQL (the SQLite compiler leaves it out); the outbox rows only, not the participants.
        .with_for_update(of=OutboundSms, skip_locked=True)
    )


def renew_claims(claims: Iterable[tuple[int, int]], lease_until: datetime, now: datetime | None = None) -> set[int]:
    """Extend the lease of claimed ``(id, attempts)`` rows that are still ours.

    Returns the ids renewed; a missing id was reclaimed by another sender (its lease
    had lapsed) or finished, and must not be sent by this one.
    """
    pairs = list(claims)
    if not pairs:
        return set()
    statement = (
        update(OutboundSms)
        .where(OutboundSms.status == OutboundStatus.SENDING, tuple_(OutboundSms.id, OutboundSms.attempts).in_(pairs))
        .values(lease_expires_at=lease_until, updated_at=now or utcnow())
        .returning(OutboundSms.id)
        .execution_options(synchronize_session=False)
    )
    return set(db.session.scalars(statement))


def release_claims(claims: Iterable[tuple[int, int]], now: datetime | None = None) -> int:
    """Give claimed-but-unsent ``(id, attempts)`` rows back: QUEUED, the attempt undone.

    For a sender that stops before it called the gateway for them (SIGTERM), so they
    need not wait for their lease to lapse. Rows no longer ours are left alone.
    Returns how many rows were released.
    """
    pairs = list(claims)
    if not pairs:
        return 0
    statement = (
        update(OutboundSms)
        .where(OutboundSms.status == OutboundStatus.SENDING, tuple_(OutboundSms.id, OutboundSms.attempts).in_(pairs))
        .values(status=OutboundStatus.QUEUED, attempts=OutboundSms.attempts - 1, lease_expires_at=None,
                updated_at=now or utcnow())
        .returning(OutboundSms.id)
        .execution_options(synchronize_session=False)
    )
    return len(list(db.session.scalars(statement)))


def is_still_claimed(message_id: int, attempt: int) -> bool:
    """Whether row ``message_id`` is still SENDING under claim ``attempt``.

    On PostgreSQL the row is locked (``FOR UPDATE``) until the caller's commit, so the
    outcome the caller then writes cannot overwrite another sender's. Pending changes
    of the session are not flushed by this check.
    """
    statement = (
        select(OutboundSms.status, OutboundSms.attempts).where(OutboundSms.id == message_id).with_for_update()
    )
    with db.session.no_autoflush:
        row = db.session.execute(statement).one_or_none()
    return row is not None and row.status == OutboundStatus.SENDING and row.attempts == attempt


def requeue_failed(message_id: int, now: datetime | None = None) -> OutboundSms:
    """Put a FAILED (the dead letter) or UNCERTAIN message back in the queue with a fresh attempt budget.

    ``attempts`` restarts at 0; ``last_error`` keeps the reason it failed until the next
    attempt replaces it; the ``client_ref`` is the same, so if an earlier attempt did
    reach the farmer the gateway answers "duplicate" instead of sending again; a
    ``not_before`` still in the future is respected. Raises ``NotFound`` or
    ``NotRequeueable`` (the message is neither FAILED nor UNCERTAIN). Not committed.
    """
    now = now or utcnow()
    message = db.session.get(OutboundSms, message_id, with_for_update=True)
    if message is None:
        raise NotFound(f"There is no outbound message {message_id}.")
    if message.status not in REQUEUEABLE:
        raise NotRequeueable(f"Outbound message {message_id} is {message.status}; only FAILED and UNCERTAIN messages "
                             "can be re-queued.")
    message.status = OutboundStatus.QUEUED
    message.attempts = 0
    message.lease_expires_at = None
    message.next_attempt_at = max(message.not_before, now) if message.not_before else now
    message.updated_at = now
    db.session.flush()
    log.info("outbound %s re-queued from the dead letter", message.id)
    return message


def _clip(text: str) -> str:
    return text if len(text) <= 500 else text[:497] + "..."


__all__ = [
    "EmptyText",
    "InvalidMsisdn",
    "CANCELLED_OPTED_OUT",
    "NotRequeueable",
    "OptedOut",
    "Purpose",
    "RetryPolicy",
    "TextDoesNotFit",
    "attempt_delivery",
    "check_consent",
    "check_text",
    "consent_allows",
    "claim_due",
    "deliver",
    "is_still_claimed",
    "opted_out_among",
    "opted_out_numbers",
    "queue_message",
    "record_outcome",
    "release_claims",
    "renew_claims",
    "requeue_failed",
    "start_attempt",
]
