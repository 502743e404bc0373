"""Running the worker's jobs in one process: the classifier, and sending threads sharing one control and one pacer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask

from roko_app.extensions import db
from roko_app.gateway.topaz import TopazClient
from roko_app.worker.classifier import Classifier, ClassifierStats
from roko_app.worker.sender import CLAIM_HORIZON_SECONDS, STOP_CHECK_SECONDS, Control, Worker, WorkerStats
from roko_app.worker.throttle import pacer_from_config

log = logging.getLogger(__name__)

#: Sending threads per worker process (``--concurrency``).
DEFAULT_CONCURRENCY = 4
#: The worker's jobs; one process runs both unless told otherwise (``--jobs``).
JOBS = ("classify", "send")


@dataclass
class RunStats:
    classified: ClassifierStats | None = None
    sent: WorkerStats | None = None

    def summary(self) -> str:
        parts = [f"classify: {self.classified.summary()}" if self.classified else "",
                 f"send: {self.sent.summary()}" if self.sent else ""]
        return "; ".join(part for part in parts if part)


def run_jobs(app: Flask, *, jobs: Sequence[str] = JOBS, concurrency: int = DEFAULT_CONCURRENCY, once: bool = False,
             control: Control | None = None, classify_options: dict[str, Any] | None = None,
             **send_options: Any) -> RunStats:
    """Run the worker's ``jobs`` in this process until ``control`` stops them or, with
    ``once``, until nothing is left: first every SMS is classified, then what is due sent.

    Long-running, the classifier has a thread of its own beside the senders and rings
    the outbox bell when it queued replies. The first error of any job stops the others
    and is raised once all have stopped."""
    unknown = set(jobs) - set(JOBS)
    if unknown or not jobs:
        raise ValueError(f"unknown job(s) {sorted(unknown)}; the jobs are {', '.join(JOBS)}")
    control = control or Control(send_options.pop("max_messages", None))
    classify_options = classify_options or {}
    stats = RunStats()
    if once:
        if "classify" in jobs:
            with app.app_context():
                stats.classified = Classifier.from_app(app, control=control, **classify_options).run(once=True)
        if "send" in jobs:
            stats.sent = run_workers(app, concurrency=concurrency, once=True, control=control, **send_options)
        return stats
    errors: list[BaseException] = []
    classifier_thread = None
    if "classify" in jobs:
        with app.app_context():
            Classifier.from_app(app, control=control, **classify_options)  # check the settings before starting

        def classify_main() -> None:
            with app.app_context():
                try:
                    stats.classified = Classifier.from_app(app, control=control, on_replies=control.ring_outbox,
                                                           **classify_options).run()
                except BaseException as exc:
                    errors.append(exc)
                    control.stop()
                    log.error("classifier thread failed; stopping the worker", exc_info=exc)
                finally:
                    db.session.remove()

        classifier_thread = threading.Thread(target=classify_main, name="classifier")
        classifier_thread.start()
    try:
        if "send" in jobs:
            stats.sent = run_workers(app, concurrency=concurrency, control=control, **send_options)
        else:
            while not control.stopping:
                time.sleep(STOP_CHECK_SECONDS)
    finally:
        control.stop()
        if classifier_thread is not None:
            _join(classifier_thread)
    if errors:
        raise errors[0]
    return stats


def _join(thread: threading.Thread) -> None:
    while thread.is_alive():
        thread.join(timeout=0.5)  # short joins keep the main thread responsive to signals


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
        _join(thread)
    if errors:
        raise errors[0]
    return WorkerStats.combine(results)
