"""The send loop: claim due outbox rows, send them through the gateway, commit each outcome (``docs/worker.md``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.gateway.topaz import SendResult, TopazClient
from roko_app.models import OutboundSms, OutboundStatus
from roko_app.models.outbound import FINAL_STATUSES
from roko_app.optimove.client import OptimoveClient
from roko_app.services import delivery, optimove_callbacks, outbound
from roko_app.services.outbound import RetryPolicy
from roko_app.worker.throttle import Pacer, ThrottleUnavailable, pacer_from_config

log = logging.getLogger(__name__)

#: With the throttle on, claim about this many seconds' worth of sends at a time.
CLAIM_HORIZON_SECONDS = 5.0
#: Part of the lease kept in reserve for commit latency and clock skew between hosts.
LEASE_MARGIN_FRACTION = 0.1
MIN_LEASE_MARGIN = timedelta(seconds=0.1)
#: How soon an idle sender notices the outbox bell.
BELL_CHECK_SECONDS = 0.01
#: How soon a sleeping worker notices it was asked to stop.
STOP_CHECK_SECONDS = 0.05
#: Rows per UPDATE of the delivery sweep (SENT without a report → UNREPORTED).
SWEEP_BATCH = 1000
#: UNCERTAIN messages the sweep asks the gateway about, at most, each time.
UNCERTAIN_BATCH = 50
#: Longest wait between tries while the database keeps failing (doubling from 1 s).
MAX_ERROR_BACKOFF_SECONDS = 60.0


@dataclass
class WorkerStats:
    """What one run did (outcomes of attempts, not of messages)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    lost: int = 0  # claims found reclaimed by another sender (lapsed lease); not sent
    released: int = 0  # claimed but not sent because the worker stopped
    claims: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def attempts(self) -> int:
        return self.sent + self.retried + self.failed

    @classmethod
    def combine(cls, parts: Sequence[WorkerStats]) -> WorkerStats:
        total = cls(started=min((part.started for part in parts), default=time.monotonic()))
        for name in ("sent", "retried", "failed", "lost", "released", "claims"):
            setattr(total, name, sum(getattr(part, name) for part in parts))
        return total

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        return (f"{self.sent} sent, {self.retried} to retry, {self.failed} failed, {self.lost} lost to another "
                f"sender, {self.released} released, in {elapsed:.2f} s")


class Control:
    """What the worker's threads in one process share: the stop flag, the budget of
    send attempts (``--max-messages``) and the outbox bell, which the classifier rings
    when it queued replies so that idle senders look at once instead of at their next
    poll. :meth:`stop` only sets a flag, so a signal handler may call it."""

    def __init__(self, max_messages: int | None = None) -> None:
        self.stopping = False
        self.outbox_bell = 0  # rung (incremented) by the classifier; a lost ring costs one poll
        self._budget = max_messages
        self._lock = threading.Lock()
        self._last_run: dict[str, datetime] = {}

    def sweep_due(self, now: datetime, every: timedelta, job: str = "delivery") -> bool:
        """Whether this thread should run the periodic ``job`` now (one of the process's
        threads does, at most once per ``every``)."""
        with self._lock:
            last = self._last_run.get(job)
            if last is not None and now - last < every:
                return False
            self._last_run[job] = now
            return True

    def stop(self) -> None:
        self.stopping = True

    def ring_outbox(self) -> None:
        self.outbox_bell += 1

    def wait(self, seconds: float, *, bell: int | None = None) -> None:
        """Sleep ``seconds``, or less once asked to stop or, given ``bell``, once the
        outbox bell rang since it read ``bell``."""
        # Not threading.Event.wait: setting an Event from a signal handler can deadlock
        # on the Event's lock held by the interrupted wait itself.
        step = STOP_CHECK_SECONDS if bell is None else BELL_CHECK_SECONDS
        deadline = time.monotonic() + seconds
        while not self.stopping and (bell is None or self.outbox_bell == bell):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, step))

    @property
    def exhausted(self) -> bool:
        return self._budget is not None and self._budget <= 0

    def take(self) -> bool:
        """Take one send attempt from the budget; False when it is used up."""
        if self._budget is None:
            return True
        with self._lock:
            if self._budget <= 0:
                return False
            self._budget -= 1
            return True


class Worker:
    """One claim-and-send loop; use inside an application context (one per thread).

    ``sleep`` waits between polls and for throttle slots; the default wakes up within
    ``STOP_CHECK_SECONDS`` of :meth:`stop` (tests inject one that advances a frozen
    clock). Several workers of one process share a :class:`Control` and a pacer.
    """

    def __init__(
        self,
        client: TopazClient,
        policy: RetryPolicy,
        pacer: Pacer,
        *,
        batch_size: int = 20,
        poll_seconds: float = 1.0,
        max_messages: int | None = None,
        claim_horizon: float = CLAIM_HORIZON_SECONDS,
        sleep: Callable[[float], Any] | None = None,
        control: Control | None = None,
        dlr_expiry: timedelta = timedelta(hours=48),
        sweep_every: timedelta = timedelta(seconds=60),
        optimove: Mapping[str, Any] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("the batch size must be at least 1")
        self.client = client
        self.policy = policy
        self.pacer = pacer
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.claim_horizon = claim_horizon
        self.stats = WorkerStats()
        self.control = control or Control(max_messages)
        self._sleep = sleep or self.control.wait
        self.dlr_expiry = dlr_expiry
        self.sweep_every = sweep_every
        # The Optimove callbacks (docs/optimove.md), when OPTIMOVE_BASE_URL is set: the config.
        self.optimove = optimove if optimove is not None and optimove_callbacks.enabled(optimove) else None
        self._optimove_client: OptimoveClient | None = None
        if self.optimove is not None:
            optimove_callbacks.client_from_config(self.optimove).close()  # a bad setting stops the start (ValueError)
        self.send_bound = timedelta(seconds=client.connect_timeout + client.read_timeout)
        self.margin = max(policy.lease * LEASE_MARGIN_FRACTION, MIN_LEASE_MARGIN)
        if policy.lease <= self.send_bound + self.margin:
            raise ValueError(
                f"SEND_LEASE_SECONDS ({policy.lease.total_seconds():g}) must exceed TOPAZ_CONNECT_TIMEOUT + "
                f"TOPAZ_READ_TIMEOUT ({self.send_bound.total_seconds():g}) by more than "
                f"{self.margin.total_seconds():g} s, or a slow send could outlive its lease"
            )

    @classmethod
    def from_app(cls, app: Flask, *, client: TopazClient | None = None, pacer: Pacer | None = None,
                 **options: Any) -> Worker:
        """A worker configured from ``app.config`` (the app's Topaz client unless given)."""
        config = app.config
        options.setdefault("batch_size", int(config["WORKER_BATCH_SIZE"]))
        options.setdefault("poll_seconds", float(config["WORKER_POLL_SECONDS"]))
        options.setdefault("dlr_expiry", timedelta(hours=float(config["DLR_EXPIRY_HOURS"])))
        options.setdefault("sweep_every", timedelta(seconds=float(config["DLR_SWEEP_SECONDS"])))
        options.setdefault("optimove", config)
        return cls(client or app.extensions["topaz"], RetryPolicy.from_config(config),
                   pacer or pacer_from_config(config), **options)

    @property
    def claim_size(self) -> int:
        if not self.pacer.rate:
            return self.batch_size
        return max(1, min(self.batch_size, int(self.pacer.rate * self.claim_horizon)))

    def stop(self) -> None:
        """Ask the worker to stop after the message in flight (thread- and signal-safe)."""
        self.control.stop()

    @property
    def stopping(self) -> bool:
        return self.control.stopping

    def _idle(self, seconds: float, bell: int) -> None:
        """Wait for the next poll, or less when the outbox bell rang since ``bell``."""
        if self._sleep == self.control.wait:
            self.control.wait(seconds, bell=bell)
        else:
            self._sleep(seconds)  # an injected sleep (tests with a frozen clock)

    def run(self, *, once: bool = False) -> WorkerStats:
        """Send until stopped (or, with ``once``, until nothing is due)."""
        session = db.session()
        # The claimed rows are used after the claim's commit; do not reload them.
        expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
        errors = 0  # consecutive database errors
        try:
            while not self.stopping and not self.control.exhausted:
                try:
                    bell = self.control.outbox_bell
                    self._sweep()
                    self._call_optimove()
                    batch = self._claim()
                    if batch:
                        self._process(batch)
                    errors = 0
                except (SQLAlchemyError, ThrottleUnavailable) as exc:
                    db.session.rollback()
                    if once:
                        raise
                    errors += 1
                    delay = min(max(self.poll_seconds, 1.0) * 2 ** (errors - 1), MAX_ERROR_BACKOFF_SECONDS)
                    what = "throttle" if isinstance(exc, ThrottleUnavailable) else "database"
                    if errors == 1:
                        log.exception("worker: %s error; trying again in %g s", what, delay)
                    else:
                        log.error("worker: %s error again (%d in a row; %s); trying again in %g s", what,
                                  errors, type(getattr(exc, "orig", None) or exc).__name__, delay)
                    self._sleep(delay)
                    continue
                finally:
                    db.session.expunge_all()
                if not batch:
                    if once:
                        break
                    self._idle(self.poll_seconds, bell)
        finally:
            session.expire_on_commit = expire_on_commit
            if self._optimove_client is not None:
                self._optimove_client.close()
                self._optimove_client = None
        return self.stats

    def _sweep(self) -> None:
        """Every ``sweep_every``: SENT messages without a delivery report after
        ``dlr_expiry`` become UNREPORTED (batched, committed batch by batch), and the
        gateway is asked again about UNCERTAIN messages left alone that long."""
        if not self.control.sweep_due(utcnow(), self.sweep_every):
            return
        total = 0
        while True:
            moved = delivery.expire_unreported(self.dlr_expiry, batch_size=SWEEP_BATCH)
            db.session.commit()
            total += moved
            if moved < SWEEP_BATCH:
                break
        if total:
            log.info("worker: %d message(s) without a delivery report are now UNREPORTED", total)
        now = utcnow()
        due = outbound.uncertain_due(now, self.sweep_every, UNCERTAIN_BATCH)
        db.session.commit()
        for message_id, client_ref in due:  # no transaction open during the gateway's answer
            outbound.settle_uncertain(message_id, self.client.status(client_ref), now)
            db.session.commit()

    def _call_optimove(self) -> None:
        """Every ``OPTIMOVE_SEND_SECONDS``: queue the delivery reports Optimove is owed, then
        post the due callbacks."""
        if self.optimove is None or not self.control.sweep_due(
                utcnow(), timedelta(seconds=float(self.optimove["OPTIMOVE_SEND_SECONDS"])), "optimove"):
            return
        while optimove_callbacks.queue_delivery_reports(self.optimove, limit=SWEEP_BATCH) == SWEEP_BATCH:
            db.session.commit()
        db.session.commit()
        if self._optimove_client is None:
            self._optimove_client = optimove_callbacks.client_from_config(self.optimove)
        counts = optimove_callbacks.send_due(self._optimove_client)
        if any(counts.values()):
            log.info("worker: Optimove callbacks: %(sent)d sent, %(retry)d to retry, %(dead)d refused", counts)

    def _claim(self) -> list[OutboundSms]:
        batch = outbound.claim_due(self.claim_size, utcnow(), self.policy)
        db.session.commit()
        if batch:
            self.stats.claims += 1
            log.debug("worker: claimed %d message(s)", len(batch))
        return batch

    def _process(self, batch: Sequence[OutboundSms]) -> None:
        messages = {message.id: message for message in batch}
        claims = {message.id: message.attempts for message in batch}  # (id, attempts) identifies our claim
        held = [message.id for message in batch]  # claimed, not sent yet, in claim order
        lease_until = _lease_of(batch)
        try:
            while held and not self.stopping:
                message = messages[held[0]]
                wait = self.pacer.reserve(message.port)
                lease_until = self._keep_lease(held, claims, lease_until, wait)
                if not held or held[0] != message.id:
                    continue  # the row is no longer ours; its slot is lost
                if wait > 0:
                    self._sleep(wait)
                    if self.stopping:
                        break
                if not self.control.take():
                    break
                held.pop(0)
                self._send(message)
        except SQLAlchemyError:
            db.session.rollback()  # so that the rest can still be released
            raise
        finally:
            if held:
                self._release([(message_id, claims[message_id]) for message_id in held])

    def _keep_lease(self, held: list[int], claims: dict[int, int], lease_until: datetime, wait: float) -> datetime:
        """Extend the held rows' lease if it may lapse before the next send ends."""
        now = utcnow()
        needed = now + timedelta(seconds=wait) + self.send_bound + self.margin
        if lease_until >= needed:
            return lease_until
        new_lease = now + timedelta(seconds=wait) + self.policy.lease
        kept = outbound.renew_claims([(message_id, claims[message_id]) for message_id in held], new_lease, now)
        db.session.commit()
        for message_id in [message_id for message_id in held if message_id not in kept]:
            held.remove(message_id)
            self.stats.lost += 1
            log.warning("outbound %d: claim lost to another sender before sending; skipped", message_id)
        log.debug("worker: renewed the lease of %d message(s) until %s", len(kept), new_lease.isoformat())
        return new_lease

    def _send(self, message: OutboundSms) -> None:
        try:
            result, recorded = outbound.attempt_delivery(message, self.client, self.policy)
        except ValueError as exc:  # the client refuses the message itself: never sendable
            result = SendResult.rejected(f"not sendable: {exc}")
            recorded = outbound.record_outcome(message, result, self.policy)
        db.session.commit()
        if not recorded and message.status not in FINAL_STATUSES:
            self.stats.lost += 1
            log.warning("outbound %d: lease lapsed during the send and the row was reclaimed; outcome %s "
                        "left to the other sender", message.id, result.outcome)
            return
        self._count(message, result)

    def _count(self, message: OutboundSms, result: SendResult) -> None:
        if message.status == OutboundStatus.SENT or message.status in FINAL_STATUSES:
            self.stats.sent += 1
            log.info("outbound %d SENT attempt=%d port=%d gateway_sms_id=%s%s", message.id, message.attempts,
                     message.port, message.gateway_sms_id, " (duplicate: an earlier attempt went out)"
                     if result.duplicate else "")
        elif message.status == OutboundStatus.QUEUED:
            self.stats.retried += 1
            log.info("outbound %d RETRY attempt=%d port=%d next_attempt_at=%s: %s", message.id, message.attempts,
                     message.port, message.next_attempt_at.isoformat(), result.reason)
        else:
            self.stats.failed += 1
            log.info("outbound %d FAILED attempt=%d port=%d: %s", message.id, message.attempts, message.port,
                     message.last_error)

    def _release(self, claims: list[tuple[int, int]]) -> None:
        try:
            released = outbound.release_claims(claims)
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()
            log.exception("worker: could not release %d claimed message(s); they return when their lease lapses",
                          len(claims))
            return
        self.stats.released += released
        log.info("worker: released %d claimed message(s) unsent", released)


def _lease_of(batch: Sequence[OutboundSms]) -> datetime:
    return min(message.lease_expires_at for message in batch if message.lease_expires_at is not None)
