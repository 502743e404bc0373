"""The outbox worker: ``flask --app wsgi roko worker [--once]`` sends the due outbound SMS.

The loop
    Claim a small batch of due rows (:func:`roko_app.services.outbound.claim_due`, one
    short transaction), then send them one by one through the Topaz client
    (:func:`~roko_app.services.outbound.deliver`) and commit each outcome on its own, so
    a crash loses at most the message in flight, never a recorded outcome. Nothing due:
    ``--once`` exits, otherwise the worker sleeps ``WORKER_POLL_SECONDS`` and claims again.

Claim (the SQL lives in the service)
    ``SELECT ... WHERE status = 'SENDING' AND lease_expires_at < :now``, then per
    priority, highest first, ``... WHERE status = 'QUEUED' AND priority = :p AND
    next_attempt_at <= :now ORDER BY next_attempt_at, id LIMIT :left``, each ``FOR
    UPDATE SKIP LOCKED`` and read in order from ``ix_outbound_sms_queue`` (a claim
    costs the rows it takes, however long the queue); each row becomes SENDING with ``attempts + 1``
    and a lease of ``SEND_LEASE_SECONDS``; commit. On PostgreSQL any number of workers
    on any number of hosts take disjoint rows. On SQLite the claim runs under ``BEGIN
    IMMEDIATE``: run one worker (a second one is safe, it only takes turns); every write
    of the worker first queues on the writers' flock
    (:func:`roko_app.database.sqlite_write_lock`), like the inbound webhook's. A row whose
    lease lapsed (its sender died) is claimed again with its id, so the gateway gets the
    same ``client_ref`` and drops the second send if the first went out.

    A claim is ``(id, attempts)``: another sender's reclaim increments ``attempts``, so a
    late sender can tell the row is no longer its own.

Leases
    The lease only has to outlive a dead sender's claim; a live worker never lets its own
    lapse. ``SEND_LEASE_SECONDS`` must exceed the gateway's connect + read timeouts (the
    longest one send can take) plus a margin (a tenth of the lease, at least 0.1 s, for
    commit latency and clock skew between hosts); the worker refuses to start otherwise.
    Before each send it checks that the lease still covers *throttle wait + connect +
    read + margin*; if not (a throttled batch, a slow gateway) it extends the lease of
    every row it still holds in one guarded ``UPDATE ... WHERE status = 'SENDING' AND
    (id, attempts) IN (...)``, commits, and drops (does not send) any row that is no
    longer its own. An outcome is written without a check while the lease is safely
    running; past it, only after ``SELECT ... FOR UPDATE`` shows the claim is still ours.
    With the throttle on, a claim takes at most what the throttle lets through in about
    ``CLAIM_HORIZON_SECONDS`` (``rate x 5 s``, at least 1), so a worker does not sit on
    rows another worker could send, and a reply queued behind a bulk batch waits ~5 s.

Throttle (``TOPAZ_RATE_PER_PORT`` messages per second per SIM port; 0 = off)
    Pacing, not bursts: each send reserves the next slot of its port, slots
    ``1 / rate`` apart, and waits for it. A sender that fell behind by at most
    ``PACER_CATCH_UP_SECONDS`` (0.25 s: a GC pause, a slow commit) sends its late slots
    at once to get back on schedule, so noise does not lower the rate (right after such
    a stall a port may see up to ``rate x 0.25`` messages early); further behind (idle,
    a long stall) the schedule restarts from now, so idle time builds no burst. Where
    the slots live follows ``RATELIMIT_STORAGE_URI``:

    * ``redis://`` / ``rediss://`` (production): in Redis, reserved atomically by a Lua
      script on Redis's clock, so the rate holds **across every worker process and
      host** sharing that Redis: N workers together send at most ``rate`` per port.
    * anything else (``memory://``, the dev default): in this process, so the rate is
      **per worker process**; N workers send up to ``N x rate`` per port. Divide the rate
      by the number of workers if you run several without Redis.

    A reserved slot that is not used (the worker stops, a row turns out to be someone
    else's) is lost, which only ever makes sending slower, never faster.

Concurrency (``--concurrency N``, default 4)
    N sending threads in one process, each the same claim-and-send loop with its own
    database session and connection and its own Topaz client; they share the stop flag,
    the ``--max-messages`` budget and the pacer (so the per-process rate is the
    process's, whatever N). A worker spends most of its time waiting (on the gateway,
    and on PostgreSQL for each commit's WAL flush); threads overlap those waits, and
    PostgreSQL flushes concurrent commits together. Every outcome is still committed on
    its own before its thread moves on: at most N messages are in flight when the
    process dies, as with N worker processes. On SQLite the threads take turns for the
    write lock; more than 1 brings little there.

Signals
    SIGTERM or SIGINT sets a flag: each message being sent is finished and its outcome
    committed, the rest of the claimed batches is released (QUEUED again, the attempt
    undone, so nothing waits for a lease), and the command exits with status 0. A
    throttle wait is cut short.

Errors
    A message the client refuses to send (``ValueError``: a port outside 0..31, an
    unknown encoding) is FAILED as not sendable instead of poisoning the queue. A
    database error, or the throttle's Redis being unreachable (the worker then sends
    nothing rather than exceed the rate), ends ``--once`` with a non-zero status; the
    long-running worker releases what it can, rolls back and tries again after 1 s,
    doubling up to 60 s while the errors go on (the traceback is logged once, then one
    line per try); rows it could not release come back when their lease lapses.

Logging: one INFO line per message outcome with ids, port, attempt and the gateway's
reason; never the phone number or the text.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import FrameType
from typing import Any, Protocol

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from roko_app.database import sqlite_write_lock
from roko_app.extensions import db
from roko_app.gateway.topaz import SendResult, TopazClient
from roko_app.models import OutboundSms, OutboundStatus
from roko_app.models.types import utcnow
from roko_app.services import outbound
from roko_app.services.outbound import RetryPolicy

log = logging.getLogger(__name__)

#: With the throttle on, claim about this many seconds' worth of sends at a time.
CLAIM_HORIZON_SECONDS = 5.0
#: A sender this far behind its throttle schedule may catch up (send late slots at once).
PACER_CATCH_UP_SECONDS = 0.25
#: Part of the lease kept in reserve for commit latency and clock skew between hosts.
LEASE_MARGIN_FRACTION = 0.1
MIN_LEASE_MARGIN = timedelta(seconds=0.1)
#: How soon a sleeping worker notices it was asked to stop.
STOP_CHECK_SECONDS = 0.05
#: Longest wait between tries while the database keeps failing (doubling from 1 s).
MAX_ERROR_BACKOFF_SECONDS = 60.0
#: Sending threads per worker process (``--concurrency``).
DEFAULT_CONCURRENCY = 4


# --- throttle -------------------------------------------------------------------------


class ThrottleUnavailable(RuntimeError):
    """The shared throttle (Redis) cannot be reached: do not send rather than exceed the rate."""


class Pacer(Protocol):
    """Spaces sends per SIM port."""

    rate: float
    shared: bool

    def reserve(self, port: int) -> float:
        """Reserve the next send slot of ``port``; seconds to wait before sending."""
        ...


class LocalPacer:
    """Per-process pacing: slots ``1 / rate`` apart per port.

    A sender up to ``PACER_CATCH_UP_SECONDS`` behind its schedule (a GC pause, a slow
    commit) gets its late slots at once and so catches up; further behind (idle, a long
    stall) the schedule restarts from now, so idle time builds no burst. ``clock`` is
    injectable (a monotonic clock in seconds) for tests.
    """

    shared = False

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"TOPAZ_RATE_PER_PORT must be a number >= 0, not {rate!r}")
        self.rate = float(rate)
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next: dict[int, float] = {}
        self._lock = threading.Lock()  # shared by the sending threads of a process

    def reserve(self, port: int) -> float:
        if not self.rate:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = self._next.get(port, now)
            if slot < now - PACER_CATCH_UP_SECONDS:
                slot = now
            self._next[port] = slot + self._interval
        return max(slot - now, 0.0)


# KEYS[1]: the port's key; ARGV[1]: interval, ARGV[2]: catch-up, in microseconds. The
# same rule as LocalPacer on Redis's own clock, so workers on hosts with skewed clocks
# share one schedule. Values are integers of microseconds (exact in Lua's doubles;
# "%.0f" keeps them out of exponent notation).
_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now - tonumber(ARGV[2]) then slot = now end
local ttl_ms = math.max(math.ceil((slot + interval - now) / 1000), 0) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', ttl_ms)
if slot < now then return 0 end
return slot - now
"""


class RedisPacer:
    """Pacing shared by every process using the same Redis: one schedule per port."""

    shared = True

    def __init__(self, rate: float, url: str, key_prefix: str = "roko") -> None:
        import redis

        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"TOPAZ_RATE_PER_PORT must be a number >= 0, not {rate!r}")
        self.rate = float(rate)
        self._interval_us = round(1_000_000 / rate) if rate else 0
        self._prefix = f"{key_prefix}:outbox-pace"
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._script = self._redis.register_script(_RESERVE_SCRIPT)
        self._errors = redis.RedisError

    def reserve(self, port: int) -> float:
        if not self.rate:
            return 0.0
        try:
            wait_us = self._script(keys=[f"{self._prefix}:{port}"],
                                   args=[self._interval_us, round(PACER_CATCH_UP_SECONDS * 1_000_000)])
        except self._errors as exc:
            raise ThrottleUnavailable(f"the throttle's Redis is unavailable: {type(exc).__name__}") from exc
        return int(wait_us) / 1_000_000  # type: ignore[arg-type]


def pacer_from_config(config: Mapping[str, Any], rate: float | None = None) -> Pacer:
    """The pacer ``RATELIMIT_STORAGE_URI`` calls for (Redis: shared; else per process)."""
    rate = float(config["TOPAZ_RATE_PER_PORT"]) if rate is None else rate
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if rate and storage.startswith(("redis://", "rediss://")):
        return RedisPacer(rate, storage, str(config.get("RATELIMIT_KEY_PREFIX") or "roko"))
    if rate and not storage.startswith("memory://"):
        log.warning("throttle: storage %s is not supported for pacing; the rate applies per worker process",
                    storage.split("://", 1)[0])
    return LocalPacer(rate)


# --- the worker ------------------------------------------------------------------------


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
    """What the sending threads of one process share: the stop flag and the budget of
    send attempts (``--max-messages``). :meth:`stop` only sets a flag, so a signal
    handler may call it."""

    def __init__(self, max_messages: int | None = None) -> None:
        self.stopping = False
        self._budget = max_messages
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.stopping = True

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
        self._sleep = sleep or self._interruptible_sleep
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

    def _interruptible_sleep(self, seconds: float) -> None:
        # Not threading.Event.wait: setting an Event from a signal handler can deadlock
        # on the Event's lock held by the interrupted wait itself.
        deadline = time.monotonic() + seconds
        while not self.control.stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, STOP_CHECK_SECONDS))

    def run(self, *, once: bool = False) -> WorkerStats:
        """Send until stopped (or, with ``once``, until nothing is due)."""
        session = db.session()
        # The claimed rows are used after the claim's commit; do not reload them.
        expire_on_commit, session.expire_on_commit = session.expire_on_commit, False
        errors = 0  # consecutive database errors
        try:
            while not self.stopping and not self.control.exhausted:
                try:
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
                    self._sleep(self.poll_seconds)
        finally:
            session.expire_on_commit = expire_on_commit
        return self.stats

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
                self._send(message, claims[message.id], lease_until)
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

    def _send(self, message: OutboundSms, attempt: int, lease_until: datetime) -> None:
        try:
            result = outbound.deliver(message, self.client, self.policy)
        except ValueError as exc:  # the client refuses the message itself: never sendable
            result = SendResult.rejected(f"not sendable: {exc}")
            outbound.record_outcome(message, result, self.policy)
        sqlite_write_lock(db.session)  # SQLite: queue behind the other writers (no-op on PostgreSQL)
        if utcnow() + self.margin >= lease_until and not outbound.is_still_claimed(message.id, attempt):
            db.session.expunge(message)
            db.session.commit()
            self.stats.lost += 1
            log.warning("outbound %d: lease lapsed during the send and the row was reclaimed; outcome %s "
                        "left to the other sender", message.id, result.outcome)
            return
        db.session.commit()
        self._count(message, result)

    def _count(self, message: OutboundSms, result: SendResult) -> None:
        if message.status == OutboundStatus.SENT:
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


# --- several sending threads ----------------------------------------------------------------


def run_workers(app: Flask, *, concurrency: int = 1, once: bool = False, control: Control | None = None,
                **options: Any) -> WorkerStats:
    """Run ``concurrency`` workers in this process, sharing ``control`` and one pacer.

    One worker runs in the calling thread (with the app's Topaz client). More run in
    threads, each with its own application context (so its own database session and
    connection) and its own Topaz client (a ``requests.Session`` per thread). Threads
    help because a worker mostly waits, on the gateway and on the database's commit
    (a WAL flush on PostgreSQL); PostgreSQL flushes concurrent commits together.
    Returns the combined stats; the first error of any thread is raised after all
    threads stopped.
    """
    control = control or Control(options.pop("max_messages", None))
    if concurrency == 1:
        return Worker.from_app(app, control=control, **options).run(once=once)
    pacer = pacer_from_config(app.config)
    options.setdefault("claim_horizon", CLAIM_HORIZON_SECONDS / concurrency)
    Worker.from_app(app, control=control, pacer=pacer, **options)  # check the settings before starting
    results: list[WorkerStats] = []
    errors: list[BaseException] = []

    def main() -> None:
        with app.app_context(), TopazClient.from_config(app.config) as client:
            try:
                results.append(Worker.from_app(app, client=client, pacer=pacer, control=control,
                                               **options).run(once=once))
            except BaseException as exc:
                errors.append(exc)
                control.stop()
                log.error("worker thread failed; stopping the others", exc_info=exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=main, name=f"outbox-worker-{i}") for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)  # short joins keep the main thread responsive to signals
    if errors:
        raise errors[0]
    return WorkerStats.combine(results)


# --- the command -------------------------------------------------------------------------


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due, then exit (for cron and tests).")
@click.option("--concurrency", type=click.IntRange(1, 32), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Sending threads in this process (each claims its own batches).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per claim (default: WORKER_BATCH_SIZE).")
@click.option("--poll-seconds", type=click.FloatRange(min=0.0), help="Sleep when nothing is due "
              "(default: WORKER_POLL_SECONDS).")
@click.option("--max-messages", type=click.IntRange(min=1), help="Stop after this many send attempts.")
@with_appcontext
def worker_command(once: bool, concurrency: int, batch_size: int | None, poll_seconds: float | None,
                   max_messages: int | None) -> None:
    """Send the due outbound SMS (replies before bulk), throttled per SIM port.

    SIGTERM or Ctrl-C finishes the messages in flight, puts the rest of the claimed
    batches back and exits with status 0.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    options: dict[str, Any] = {}
    if batch_size is not None:
        options["batch_size"] = batch_size
    if poll_seconds is not None:
        options["poll_seconds"] = poll_seconds
    try:
        probe = Worker.from_app(app, **options)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    control = Control(max_messages)
    restore = _install_signal_handlers(control)
    pacer = probe.pacer
    log.info("worker started: %d thread(s), batch %d, %s, lease %gs%s", concurrency, probe.batch_size,
             f"throttle {pacer.rate:g}/s per port ({'shared through Redis' if pacer.shared else 'per process'})"
             if pacer.rate else "throttle off", probe.policy.lease.total_seconds(), ", once" if once else "")
    try:
        stats = run_workers(app, concurrency=concurrency, once=once, control=control, **options)
    finally:
        restore()
    log.info("worker stopped: %s", stats.summary())
    click.echo(f"worker: {stats.summary()}")


def _install_signal_handlers(control: Control) -> Callable[[], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if not control.stopping:
            log.info("worker: %s received; finishing the messages in flight", signal.Signals(signum).name)
        control.stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


__all__ = ["Control", "LocalPacer", "Pacer", "RedisPacer", "ThrottleUnavailable", "Worker", "WorkerStats",
           "pacer_from_config", "run_workers", "worker_command"]
