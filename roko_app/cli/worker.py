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

from roko_app.worker.runner import DEFAULT_CONCURRENCY, JOBS, run_jobs
from roko_app.worker.sender import Control, Worker

log = logging.getLogger(__name__)


@click.command("worker")
@click.option("--once", is_flag=True, help="Classify every stored SMS and send what is due, then exit (cron, tests).")
@click.option("--jobs", default=",".join(JOBS), show_default=True,
              help="Comma list of the jobs this process runs: classify, send (run them apart at scale).")
@click.option("--concurrency", type=click.IntRange(1, 32), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Sending threads in this process (each claims its own batches).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Rows per claim (default: WORKER_BATCH_SIZE).")
@click.option("--poll-seconds", type=click.FloatRange(min=0.0), help="Sleep when nothing is due "
              "(default: WORKER_POLL_SECONDS).")
@click.option("--max-messages", type=click.IntRange(min=1), help="Stop after this many send attempts.")
@with_appcontext
def worker_command(once: bool, jobs: str, concurrency: int, batch_size: int | None, poll_seconds: float | None,
                   max_messages: int | None) -> None:
    """Classify the stored inbound SMS (entries and replies) and send the due outbound
    SMS (replies before bulk), throttled per SIM port.

    SIGTERM or Ctrl-C finishes the batch and the messages in flight, puts the rest of
    the claimed messages back and exits with status 0.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    chosen = tuple(job.strip() for job in jobs.split(",") if job.strip())
    if not chosen or set(chosen) - set(JOBS):
        raise click.BadParameter(f"choose among {', '.join(JOBS)}", param_hint="--jobs")
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
    log.info("worker started: jobs %s; %d sending thread(s), batch %d, %s, lease %gs%s", ",".join(chosen), concurrency,
             probe.batch_size, f"throttle {pacer.rate:g}/s per port "
             f"({'shared through Redis' if pacer.shared else 'per process'})" if pacer.rate else "throttle off",
             probe.policy.lease.total_seconds(), ", once" if once else "")
    try:
        stats = run_jobs(app, jobs=chosen, concurrency=concurrency, once=once, control=control, **options)
    finally:
        restore()
    log.info("worker stopped: %s", stats.summary())
    if stats.classified is not None:
        click.echo(f"classifier: {stats.classified.summary()}")
    if stats.sent is not None:
        click.echo(f"worker: {stats.sent.summary()}")


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
