"""Real worker processes (``python -m flask --app wsgi roko worker``) against the simulator:
two workers sharing the queue, a worker killed mid-batch, a worker stopped with SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.factories import bulk_queue
from tests.helpers import count_status, outbox, refs, sent_refs, worker_process

PROCESS_TIMEOUT = 60


@pytest.fixture
def spawn(wapp: Any, simulator: Any, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start worker processes; any still running at the end are killed (and the log shown)."""
    started: list[subprocess.Popen[str]] = []
    log_path = tmp_path / "workers.log"

    def start(*args: str, **env: str) -> subprocess.Popen[str]:
        proc = worker_process(wapp, simulator, *args, log_path=log_path, **env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
    if log_path.exists():
        print(log_path.read_text()[-5000:])  # shown by pytest when the test failed


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str], timeout: float = PROCESS_TIMEOUT) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker exited with {proc.returncode}: {out}"
    return out


def sent_count(summary: str) -> int:
    (line,) = [line for line in summary.splitlines() if line.startswith("worker: ")]
    return int(line.split()[1])


@pytest.mark.postgres_only
def test_two_workers_drain_a_thousand_rows_without_a_single_duplicate(wapp: Any, simulator: Any, spawn: Any,
                                                                      tmp_path: Path) -> None:
    # Both workers are up and polling before the rows appear, so both take part.
    workers = [spawn("--batch-size", "20", "--poll-seconds", "0.05") for _ in range(2)]
    log_path = tmp_path / "workers.log"
    wait_until(lambda: log_path.exists() and log_path.read_text().count("worker started") == 2, what="two workers")
    ids = bulk_queue(wapp, 1000)
    wait_until(lambda: count_status(wapp, "SENT") == 1000, timeout=PROCESS_TIMEOUT, what="all rows SENT")
    for proc in workers:
        proc.send_signal(signal.SIGTERM)
    summaries = [finish(proc) for proc in workers]

    counts = [sent_count(summary) for summary in summaries]
    assert sum(counts) == 1000 and min(counts) > 0, f"both workers took part: {counts}"
    rows = outbox(wapp)
    assert Counter((r.status, r.attempts) for r in rows) == {("SENT", 1): 1000}, "no row was claimed twice"
    sent = sent_refs(simulator)
    assert len(sent) == 1000 and set(sent) == set(refs(ids)), "the gateway got each message exactly once"
    assert sorted(r.gateway_sms_id for r in rows) == list(range(1, 1001)), "and never answered 'duplicate'"


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(wapp: Any, simulator: Any, spawn: Any) -> None:
    ids = bulk_queue(wapp, 12)
    simulator.set(latency_ms=150)
    lease = {"ROKO_SEND_LEASE_SECONDS": "2"}
    victim = spawn("--batch-size", "12", **lease)
    wait_until(lambda: len(simulator.sent()) >= 3, what="three sends")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)

    rows = outbox(wapp)
    stuck = [r for r in rows if r.status == "SENDING"]
    assert stuck, "the kill left claimed rows behind"
    time.sleep(max(0.0, (max(r.lease_expires_at for r in stuck) - datetime.now(UTC)).total_seconds()) + 0.1)
    simulator.set(latency_ms=0)
    summary = finish(spawn("--once", **lease))

    rows = outbox(wapp)
    assert {r.status for r in rows} == {"SENT"}, "nothing stuck in SENDING, nothing lost"
    assert any(r.attempts == 2 for r in rows), "the dead worker's claims were taken over"
    sent = sent_refs(simulator)
    assert len(sent) == 12 and set(sent) == set(refs(ids)), "each SMS went out exactly once"
    assert sent_count(summary) == len(stuck)


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_sigterm_finishes_the_messages_in_flight_and_puts_the_rest_back(wapp: Any, simulator: Any, spawn: Any,
                                                                        concurrency: str) -> None:
    bulk_queue(wapp, 16)
    simulator.set(latency_ms=300)
    worker = spawn("--batch-size", "8", "--concurrency", concurrency)
    wait_until(lambda: len(simulator.sent()) >= 2, what="two sends")
    time.sleep(0.1)  # well inside the next send
    signalled = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    summary = finish(worker, timeout=10)
    assert time.monotonic() - signalled < 3, "exits promptly"

    rows = outbox(wapp)
    sent_rows = [r for r in rows if r.status == "SENT"]
    assert len(sent_rows) >= 3, "the message(s) in flight were finished"
    assert len(simulator.sent()) == len(sent_rows)
    rest = [r for r in rows if r.status != "SENT"]
    assert rest and all((r.status, r.attempts, r.lease_expires_at) == ("QUEUED", 0, None) for r in rest), \
        "claimed but unsent rows are back in the queue, their attempt undone"
    released = int(re.search(r"(\d+) released", summary).group(1))  # type: ignore[union-attr]
    assert released > 0 and len(sent_rows) + released == 8 * int(concurrency), "each thread claimed one batch"
