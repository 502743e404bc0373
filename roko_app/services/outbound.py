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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from roko_app.extensions import db
from roko_app.gateway.topaz import SendResult, TopazClient
from roko_app.models import OutboundSms, OutboundStatus, Priority
from roko_app.models.types import utcnow
from roko_app.services.errors import DomainError
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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(minutes=30)
    lease: timedelta = timedelta(seconds=60)

    def backoff(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s, ... capped: the delay before attempt ``attempts + 1``."""
        return min(self.backoff_base * (2 ** max(attempts - 1, 0)), self.backoff_max)

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
) -> OutboundSms:
    """Validate and add a QUEUED row (flushed, not committed).

    Raises ``InvalidMsisdn`` for a bad number and ``TextDoesNotFit``/``EmptyText`` for a
    bad text.
    """
    msisdn = normalize_msisdn(phone_number)
    info = check_text(text)
    now = utcnow()
    message = OutboundSms(
        to_msisdn=msisdn,
        text=info.text,
        encoding=info.encoding,
        units=info.units,
        status=OutboundStatus.QUEUED,
        priority=priority,
        port=port,
        template_key=template_key,
        caller=caller,
        attempts=0,
        not_before=not_before,
        next_attempt_at=max(not_before, now) if not_before else now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    return message


def start_attempt(message: OutboundSms, policy: RetryPolicy, now: datetime | None = None) -> None:
    """Claim ``message`` for one delivery attempt (the caller commits before sending)."""
    now = now or utcnow()
    message.status = OutboundStatus.SENDING
    message.attempts += 1
    message.lease_expires_at = now + policy.lease
    message.updated_at = now


def deliver(message: OutboundSms, client: TopazClient, policy: RetryPolicy) -> SendResult:
    """Call the gateway for a claimed message and record the outcome (not committed)."""
    result = client.send(client_ref=message.client_ref, to=message.to_msisdn, text=message.text,
                         encoding=message.encoding, port=message.port)
    record_outcome(message, result, policy)
    return result


def record_outcome(message: OutboundSms, result: SendResult, policy: RetryPolicy,
                   now: datetime | None = None) -> None:
    now = now or utcnow()
    message.lease_expires_at = None
    message.updated_at = now
    if result.is_sent:
        message.status = OutboundStatus.SENT
        message.gateway_sms_id = result.gateway_sms_id
        message.sent_at = now
        message.last_error = None
    elif result.is_rejected:
        message.status = OutboundStatus.FAILED
        message.last_error = _clip(f"rejected by the gateway: {result.reason}")
        log.warning("outbound %s rejected by the gateway: %s", message.id, result.reason)
    elif message.attempts >= policy.max_attempts:
        message.status = OutboundStatus.FAILED
        message.last_error = _clip(f"gave up after {message.attempts} attempts: {result.reason}")
        log.error("outbound %s failed after %s attempts: %s", message.id, message.attempts, result.reason)
    else:
        message.status = OutboundStatus.QUEUED
        message.next_attempt_at = now + policy.backoff(message.attempts)
        message.last_error = _clip(f"transient: {result.reason}")
        log.info("outbound %s will be retried at %s: %s", message.id, message.next_attempt_at, result.reason)


def _clip(text: str) -> str:
    return text if len(text) <= 500 else text[:497] + "..."


__all__ = [
    "EmptyText",
    "InvalidMsisdn",
    "RetryPolicy",
    "TextDoesNotFit",
    "check_text",
    "deliver",
    "queue_message",
    "record_outcome",
    "start_attempt",
]
