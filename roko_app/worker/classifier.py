"""The classify job: every stored inbound SMS becomes an entry and a reply, exactly once (``docs/worker.md``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from roko_app import metrics
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.services import classify
from roko_app.services.classify import DrawSettings, PendingSms, RetryRule
from roko_app.services.inbound import NEW_SMS_CHANNEL
from roko_app.services.optimove_callbacks import ReplyForwarding
from roko_app.worker.sender import MAX_ERROR_BACKOFF_SECONDS, STOP_CHECK_SECONDS, Control

log = logging.getLogger(__name__)

#: Longest wait for a notification before looking at the queue anyway (retries come due,
#: and a stop request is noticed).
MAX_LISTEN_SECONDS = 0.5


@dataclass
class ClassifierStats:
    classified: int = 0
    failed: int = 0  # classifications that raised (each retried later or parked)
    parked: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> str:
        return (f"{self.classified} classified, {self.failed} failed ({self.parked} parked), in "
                f"{time.monotonic() - self.started:.2f} s")


class Listener:
    """PostgreSQL: waits on ``LISTEN`` for the webhook's notification of a new SMS, on a
    connection of its own. Any trouble with it only costs latency: the classifier then
    polls, and the next wait connects again."""

    def __init__(self, engine: Any) -> None:
        url = engine.url
        # the URL's own options too (sslmode, application_name, ...): a managed database
        # that requires TLS would otherwise refuse this connection, and the classifier poll
        options = {key: value if isinstance(value, str) else value[-1] for key, value in url.query.items()}
        self._connect_args = {**options, **url.translate_connect_args(username="user", database="dbname")}
        self._connection: Any = None

    def wait(self, seconds: float) -> None:
        import psycopg

        try:
            if self._connection is None:
                self._connection = psycopg.connect(autocommit=True, connect_timeout=5, **self._connect_args)
                self._connection.execute(f"LISTEN {NEW_SMS_CHANNEL}")
            for _ in self._connection.notifies(timeout=seconds, stop_after=1):
                pass
        except psycopg.Error as exc:
            log.warning("classifier: LISTEN connection failed (%s); polling", type(exc).__name__)
            self.close()
            time.sleep(min(seconds, STOP_CHECK_SECONDS))

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


class Classifier:
    """The classify loop; use inside an application context (its own thread)."""

    def __init__(self, settings: DrawSettings, rule: RetryRule, *, batch_size: int = 100, poll_seconds: float = 0.1,
                 control: Control | None = None, listener: Listener | None = None,
                 on_replies: Callable[[], None] | None = None, forwarding: ReplyForwarding | None = None) -> None:
        if batch_size < 1:
            raise ValueError("the classifier's batch size must be at least 1")
        self.settings = settings
        self.rule = rule
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.control = control or Control()
        self.listener = listener
        self.on_replies = on_replies or (lambda: None)
        self.forwarding = forwarding  # replies to a campaign, forwarded to Optimove (docs/optimove.md)
        self.stats = ClassifierStats()

    @classmethod
    def from_app(cls, app: Flask, **options: Any) -> Classifier:
        config = app.config
        options.setdefault("batch_size", int(config["CLASSIFY_BATCH_SIZE"]))
        options.setdefault("poll_seconds", float(config["CLASSIFY_POLL_SECONDS"]))
        if "listener" not in options and db.engine.dialect.name == "postgresql":
            options["listener"] = Listener(db.engine)
        options.setdefault("forwarding", ReplyForwarding.from_config(config))
        return cls(DrawSettings.from_config(config), RetryRule.from_config(config), **options)

    def run(self, *, once: bool = False) -> ClassifierStats:
        """Classify until stopped (or, with ``once``, until a round makes no progress)."""
        errors = 0
        try:
            while not self.control.stopping:
                try:
                    progressed = self.step()
                    errors = 0
                except SQLAlchemyError as exc:
                    db.session.rollback()
                    if once:
                        raise
                    errors += 1
                    delay = min(2.0 ** (errors - 1), MAX_ERROR_BACKOFF_SECONDS)
                    if errors == 1:
                        log.exception("classifier: database error; trying again in %g s", delay)
                    else:
                        log.error("classifier: database error again (%d in a row; %s); trying again in %g s", errors,
                                  type(getattr(exc, "orig", None) or exc).__name__, delay)
                    self.control.wait(delay)
                    continue
                if not progressed:
                    if once:
                        break
                    self._wait_for_sms()
        finally:
            if self.listener is not None:
                self.listener.close()
        return self.stats

    def step(self) -> bool:
        """Classify one batch and commit it; whether anything was classified or failed."""
        batch = classify.claim_pending(self.batch_size, utcnow())
        if not batch:
            db.session.rollback()
            return False
        self.stats.batches += 1
        try:
            result = classify.classify_batch(batch, self.settings, self.forwarding)
            db.session.commit()
        except OperationalError:
            raise  # the database's trouble (connection, lock, deadlock), not the SMS's: retry the batch
        except Exception:  # noqa: BLE001  (one SMS's error must not stop the others: retry them one by one)
            db.session.rollback()
            log.warning("classifier: a batch of %d failed; classifying its SMS one by one", len(batch), exc_info=True)
            return self._one_by_one(batch)
        self._done(result)
        return bool(result.outcomes)

    def _one_by_one(self, batch: list[PendingSms]) -> bool:
        progressed = False
        for claimed in batch:
            sms = classify.claim_one(claimed.id)
            if sms is None:
                db.session.rollback()
                continue
            try:
                result = classify.classify_batch([sms], self.settings, self.forwarding)
                db.session.commit()
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001  (recorded on the SMS, retried, then parked)
                db.session.rollback()
                sms = classify.claim_one(claimed.id) or sms
                self.stats.failed += 1
                parked = classify.record_failure(sms, exc, self.rule)
                db.session.commit()
                self.stats.parked += parked
                metrics.CLASSIFY_FAILURES.labels("parked" if parked else "retry").inc()
                progressed = True
                continue
            self._done(result)
            progressed = progressed or bool(result.outcomes)
        return progressed

    def _done(self, result: classify.BatchResult) -> None:
        self.stats.classified += result.classified
        for outcome in result.outcomes.values():
            metrics.CLASSIFIED_SMS.labels(outcome).inc()
        if result.outcomes:
            self.on_replies()
            log.debug("classifier: %d classified, %d deferred", result.classified, len(result.deferred))

    def _wait_for_sms(self) -> None:
        if self.listener is not None:
            self.listener.wait(MAX_LISTEN_SECONDS)
        else:
            self.control.wait(self.poll_seconds)
