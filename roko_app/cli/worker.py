"""``flask roko worker``: the back end's jobs, until stopped or, with ``--once``, until nothing is left."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext

from roko_app.worker.runner import DEFAULT_CONCURRENCY, run_workers
from roko_app.worker.sender import Control, Worker

log = logging.getLogger(__name__)


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
