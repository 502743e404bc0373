"""Running the worker's loops in one process: several sending threads sharing one control and one pacer."""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask

from roko_app.extensions import db
from roko_app.gateway.topaz import TopazClient
from roko_app.worker.sender import CLAIM_HORIZON_SECONDS, Control, Worker, WorkerStats
from roko_app.worker.throttle import pacer_from_config

log = logging.getLogger(__name__)

#: Sending threads per worker process (``--concurrency``).
DEFAULT_CONCURRENCY = 4


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
