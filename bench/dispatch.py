#!/usr/bin/env python3
"""Benchmark of the outbox worker (``flask --app wsgi roko worker``) against the Topaz simulator.

    cd /work/main && .venv/bin/python bench/dispatch.py [--backend sqlite|postgresql|both]
        [--messages 5000] [--rounds 3] [--throttle-rate 20] [--throttle-seconds 10]
        [--concurrency 1,4] [--skip-throughput] [--skip-throttle] [--log-level INFO]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--redis-url redis://127.0.0.1:6379/15]

For each backend it

1. creates a fresh database (SQLite: a temporary file; PostgreSQL: a dedicated
   ``roko_bench_<random>`` database created through ``--pg-url`` and dropped at the end,
   even on error) and runs the real migrations (``flask --app wsgi db upgrade``);
2. starts the simulator in its own process (``python -m roko_app.gateway.simulator``,
   with a token) on a free loopback port;
3. **throughput** (throttle off, ``ROKO_TOPAZ_RATE_PER_PORT=0``), ``--rounds`` rounds of,
   in alternating order:

   * ``baseline xK``: K plain sender processes (K = 1, 2) calling ``TopazClient.send``
     in a loop with fresh client_refs and nothing else: what the simulator (a Python
     ``ThreadingHTTPServer``) and the HTTP client can do on this machine;
   * ``worker xK cC``: K worker processes (``roko worker --concurrency C --poll-seconds
     0.02``, for each C of ``--concurrency``; log level ``--log-level`` written to a
     file) started and idle first; then ``--messages`` QUEUED rows (4 ports, mixed
     priorities) are inserted in one transaction; when all are SENT the workers get
     SIGTERM (and must exit 0);

   messages/s is measured at the gateway, from the simulator's ``received_at`` of the
   first and last send: ``(n - 1) / (last - first)``, so process start-up is not counted.
   Every round checks that the simulator received each client_ref exactly once and that
   every row is SENT after exactly one attempt. The figure is the median over rounds;
4. **throttle accuracy**: ``ROKO_TOPAZ_RATE_PER_PORT=--throttle-rate``, rows for about
   ``--throttle-seconds`` on one port, measured rate vs configured (target: within 5%),
   for one worker (per-process pacing, ``memory://``), two workers sharing Redis
   (``--redis-url``: the rate holds across processes) and, for information, two workers
   without Redis (per-process pacing: twice the rate, as documented).

It prints a table and writes everything, raw rounds included, to
``bench/results/dispatch-<timestamp>.json`` (gitignored), worker and simulator logs to
``bench/results/dispatch-<timestamp>-logs/``. Exit status: 0 when every target is met,
1 when one is missed, 2 when the benchmark itself failed. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_PG_URL,
    RESULTS,
    ROOT,
    BenchError,
    Simulator,
    cpu_model,
    loadavg,
    log,
    median,
    migrated_database,
    process_cpu,
    start_run,
)

TOKEN = "bench-topaz-token"  # noqa: S105 (a loopback simulator's token)
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"
TARGET_RATE = 300.0  # messages/s, throttle off
TARGET_THROTTLE_ERROR = 0.05
PORTS = (3, 11, 17, 29)
DRAIN_TIMEOUT = 600

sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- database


def base_env(database_url: str) -> dict[str, str]:
    return {**os.environ, "ROKO_ENV": "test", "ROKO_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}


class Outbox:
    """Direct access to the outbox table (no Flask app): queue rows, count, clear."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        from roko_app.models import OutboundSms

        self.engine = create_engine(url)
        self.table = OutboundSms.__table__

    def queue(self, count: int, ports: tuple[int, ...] = PORTS) -> None:
        from sqlalchemy import insert

        now = datetime.now(UTC)
        rows = [{"to_msisdn": f"62{i:07d}", "text": f"Merci pour votre participation ROKO. {i}",
                 "encoding": "GSM-7", "units": 42, "status": "QUEUED", "priority": (0, 5, 10)[i % 3],
                 "port": ports[i % len(ports)], "template_key": "BENCH", "caller": "bench", "attempts": 0,
                 "next_attempt_at": now, "created_at": now, "updated_at": now} for i in range(count)]
        with self.engine.begin() as conn:
            conn.execute(insert(self.table), rows)

    def counts(self) -> dict[tuple[str, int], int]:
        from sqlalchemy import func, select

        t = self.table
        with self.engine.connect() as conn:
            return {(status, attempts): n for status, attempts, n in conn.execute(
                select(t.c.status, t.c.attempts, func.count()).group_by(t.c.status, t.c.attempts))}

    def sent(self) -> int:
        from sqlalchemy import func, select

        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(self.table).where(self.table.c.status == "SENT")))

    def clear(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.delete())

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- processes


def start_workers(count: int, env: dict[str, str], log_path: Path, concurrency: int = 1) -> list[subprocess.Popen[bytes]]:
    """``count`` long-running workers; returns once each has logged its start line."""
    procs = []
    start_offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as out:
        for _ in range(count):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker", "--poll-seconds", "0.02",
                 "--concurrency", str(concurrency)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        started = log_path.read_bytes()[start_offset:].count(b"worker started")
        if any(p.poll() is not None for p in procs):
            raise BenchError(f"a worker exited at start; see {log_path}")
        if started >= count or env.get("ROKO_LOG_LEVEL", "INFO") not in ("INFO", "DEBUG"):
            time.sleep(0.3 if started >= count else 3)
            return procs
        time.sleep(0.05)
    raise BenchError(f"workers did not start within 60 s; see {log_path}")


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise BenchError("a worker did not exit within 30 s of SIGTERM") from None
        if code != 0:
            raise BenchError(f"a worker exited with {code} after SIGTERM")


def run_senders(count: int, per_sender: int, simulator: Simulator, tag: str) -> None:
    """The baseline: ``count`` processes each sending ``per_sender`` SMS in a tight loop."""
    start_at = time.time() + 1.5  # all start together, after their imports
    procs = [subprocess.Popen([sys.executable, __file__, "_sender", simulator.url, str(per_sender),
                               f"{tag}-{i}", str(start_at)], cwd=ROOT) for i in range(count)]
    for proc in procs:
        if proc.wait(timeout=DRAIN_TIMEOUT) != 0:
            raise BenchError("a baseline sender failed")


def sender_main(url: str, count: int, tag: str, start_at: float) -> int:
    from roko_app.gateway.topaz import TopazClient

    with TopazClient(url, TOKEN, 17) as client:
        time.sleep(max(0.0, start_at - time.time()))
        for i in range(count):
            result = client.send(client_ref=f"b{tag}-{i}", to="612345678", text="Merci pour votre participation ROKO.",
                                 encoding="GSM-7", port=PORTS[i % len(PORTS)])
            if not result.is_sent:
                print(f"baseline send failed: {result.reason}", file=sys.stderr)
                return 1
    return 0


# --------------------------------------------------------------------------- measurements


def gateway_rate(sends: list[dict[str, Any]]) -> tuple[float, float]:
    """(messages/s, seconds) between the first and the last send the simulator received."""
    times = sorted(datetime.fromisoformat(s["received_at"].replace("Z", "+00:00")).timestamp() for s in sends)
    span = times[-1] - times[0]
    return ((len(times) - 1) / span if span > 0 else float("inf")), span


def gaps(sends: list[dict[str, Any]]) -> dict[str, float]:
    """Inter-arrival times at the gateway, in ms: median, p99 and max."""
    times = sorted(datetime.fromisoformat(s["received_at"].replace("Z", "+00:00")).timestamp() for s in sends)
    deltas = sorted(1000 * (b - a) for a, b in zip(times, times[1:], strict=False))
    if not deltas:
        return {}
    return {"gap_p50_ms": median(deltas), "gap_p99_ms": deltas[int(0.99 * (len(deltas) - 1))], "gap_max_ms": deltas[-1]}


def check_once(sends: list[dict[str, Any]], expected: int) -> None:
    refs = [s["client_ref"] for s in sends]
    if len(refs) != expected or len(set(refs)) != expected:
        raise BenchError(f"the simulator received {len(refs)} sends ({len(set(refs))} distinct), expected {expected}")


@dataclass
class Context:
    backend: str
    database_url: str
    simulator: Simulator
    outbox: Outbox
    logs: Path
    log_level: str
    redis_url: str
    results: dict[str, Any] = field(default_factory=dict)

    def worker_env(self, **extra: str) -> dict[str, str]:
        return {**base_env(self.database_url), "ROKO_TOPAZ_URL": self.simulator.url, "ROKO_TOPAZ_TOKEN": TOKEN,
                "ROKO_TOPAZ_RATE_PER_PORT": "0", "ROKO_LOG_LEVEL": self.log_level,
                "ROKO_RATELIMIT_STORAGE_URI": "memory://", **extra}


def drain(ctx: Context, workers: int, concurrency: int, messages: int, env: dict[str, str]) -> dict[str, Any]:
    """Start idle workers, queue ``messages`` rows, wait until all are SENT, stop the workers."""
    ctx.outbox.clear()
    ctx.simulator.clear()
    log_path = ctx.logs / f"{ctx.backend}-workers.log"
    procs = start_workers(workers, env, log_path, concurrency)
    try:
        cpu_before = process_cpu([p.pid for p in procs])
        ctx.outbox.queue(messages)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while ctx.outbox.sent() < messages:
            if time.monotonic() > deadline:
                raise BenchError(f"not drained within {DRAIN_TIMEOUT} s: {ctx.outbox.counts()}")
            if any(p.poll() is not None for p in procs):
                raise BenchError(f"a worker died; see {log_path}")
            ctx.simulator.check_alive()
            time.sleep(0.1)
        cpu = process_cpu([p.pid for p in procs]) - cpu_before
    finally:
        stop_workers(procs)
    sends = ctx.simulator.sends()
    check_once(sends, messages)
    counts = ctx.outbox.counts()
    if counts != {("SENT", 1): messages}:
        raise BenchError(f"unexpected rows after the drain: {counts}")
    rate, span = gateway_rate(sends)
    return {"rate": rate, "seconds": span, "worker_cpu_ms_per_message": 1000 * cpu / messages}


def baseline(ctx: Context, senders: int, messages: int, tag: str) -> dict[str, Any]:
    ctx.simulator.clear()
    cpu_before = process_cpu([ctx.simulator.proc.pid])  # type: ignore[union-attr]
    run_senders(senders, messages // senders, ctx.simulator, tag)
    sim_cpu = process_cpu([ctx.simulator.proc.pid]) - cpu_before  # type: ignore[union-attr]
    sends = ctx.simulator.sends()
    check_once(sends, messages // senders * senders)
    rate, span = gateway_rate(sends)
    return {"rate": rate, "seconds": span, "simulator_cpu_ms_per_message": 1000 * sim_cpu / len(sends)}


def throughput(ctx: Context, messages: int, rounds: int, concurrencies: list[int]) -> dict[str, Any]:
    configs = [(f"baseline x{k}", k, 0) for k in (1, 2)]
    configs += [(f"worker x{k} c{c}", k, c) for k in (1, 2) for c in concurrencies]
    raw: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in configs}
    for round_ in range(rounds):
        order = configs if round_ % 2 == 0 else list(reversed(configs))
        for name, count, concurrency in order:
            if not concurrency:
                result = baseline(ctx, count, messages, f"{ctx.backend}{round_}{count}")
            else:
                result = drain(ctx, count, concurrency, messages, ctx.worker_env())
            result["loadavg_1m"] = loadavg()
            raw[name].append(result)
            log(f"  [{ctx.backend}] round {round_ + 1} {name:<15} {result['rate']:8.1f} msg/s ({result['seconds']:.2f} s; "
                f"load {result['loadavg_1m']:.1f})")
    summary = {name: {"median_rate": median([r["rate"] for r in results]), "rounds": results}
               for name, results in raw.items()}
    for name, count, concurrency in configs:
        if concurrency:
            row = summary[name]
            row["target"] = TARGET_RATE
            row["passed"] = row["median_rate"] >= TARGET_RATE
            row["vs_baseline"] = row["median_rate"] / summary[f"baseline x{count}"]["median_rate"]
            cpu = [r["worker_cpu_ms_per_message"] for r in row["rounds"]]
            row["median_worker_cpu_ms_per_message"] = median(cpu)
    return summary


def throttle(ctx: Context, rate: float, seconds: float, rounds: int) -> dict[str, Any]:
    prefix = f"roko-bench-{uuid.uuid4().hex[:8]}"
    configs = {
        "1 worker, per-process pacing": (1, {"ROKO_RATELIMIT_STORAGE_URI": "memory://"}, rate),
        "2 workers sharing Redis": (2, {"ROKO_RATELIMIT_STORAGE_URI": ctx.redis_url,
                                        "ROKO_RATELIMIT_KEY_PREFIX": prefix}, rate),
        "2 workers, per-process pacing (info)": (2, {"ROKO_RATELIMIT_STORAGE_URI": "memory://"}, 2 * rate),
    }
    summary = {}
    for name, (workers, extra, expected) in configs.items():
        messages = int(expected * seconds) + 1
        results = []
        for _ in range(rounds):
            ctx.outbox.clear()
            ctx.simulator.clear()
            env = ctx.worker_env(ROKO_TOPAZ_RATE_PER_PORT=str(rate), **extra)
            procs = start_workers(workers, env, ctx.logs / f"{ctx.backend}-throttle.log")
            try:
                _queue_one_port(ctx, messages)
                deadline = time.monotonic() + seconds * 4 + 30
                while ctx.outbox.sent() < messages:
                    if time.monotonic() > deadline:
                        raise BenchError(f"throttle run not drained: {ctx.outbox.counts()}")
                    ctx.simulator.check_alive()
                    time.sleep(0.2)
            finally:
                stop_workers(procs)
            sends = ctx.simulator.sends()
            check_once(sends, messages)
            measured, span = gateway_rate(sends)
            error = measured / expected - 1
            results.append({"measured": measured, "seconds": span, "error": error, **gaps(sends)})
            log(f"  [{ctx.backend}] throttle {name:<38} configured {rate:g}/s per port, expected {expected:g}/s: "
                f"measured {measured:.3f}/s over {span:.2f} s ({error:+.2%}); gaps ms p50/p99/max "
                f"{results[-1]['gap_p50_ms']:.0f}/{results[-1]['gap_p99_ms']:.0f}/{results[-1]['gap_max_ms']:.0f}")
        error = median([r["error"] for r in results])
        summary[name] = {"configured_rate": rate, "expected": expected, "median_error": error,
                         "passed": abs(error) <= TARGET_THROTTLE_ERROR, "rounds": results}
    return summary


def _queue_one_port(ctx: Context, messages: int) -> None:
    ctx.outbox.queue(messages, ports=(17,))


# --------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    pg_version = "?"
    with contextlib.suppress(Exception):
        pg_version = subprocess.run(["psql", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "kernel": platform.release(), "postgresql_client": pg_version,
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def run_backend(backend: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    log(f"== {backend}")
    with migrated_database(backend, args.pg_url, "roko-dispatch-") as url:
        simulator = Simulator(logs / f"{backend}-simulator.log", TOKEN)
        simulator.start()
        outbox = Outbox(url)
        try:
            ctx = Context(backend, url, simulator, outbox, logs, args.log_level, args.redis_url)
            result: dict[str, Any] = {}
            if not args.skip_throughput:
                result["throughput"] = throughput(ctx, args.messages, args.rounds, args.concurrency)
            if not args.skip_throttle:
                result["throttle"] = throttle(ctx, args.throttle_rate, args.throttle_seconds, args.throttle_rounds)
            return result
        finally:
            outbox.close()
            simulator.stop()


def report(results: dict[str, Any]) -> bool:
    ok = True
    log("\n== summary (medians)")
    for backend, result in results["backends"].items():
        for name, row in result.get("throughput", {}).items():
            extra = ""
            if "passed" in row:
                ok &= row["passed"]
                extra = (f"  {row['vs_baseline']:.0%} of the baseline  target >= {row['target']:g}: "
                         f"{'PASS' if row['passed'] else 'FAIL'}")
            cpu = row.get("median_worker_cpu_ms_per_message")
            cpu_text = f"  worker CPU {cpu:.2f} ms/msg" if cpu is not None else ""
            log(f"{backend:<10} {name:<15} {row['median_rate']:8.1f} msg/s{extra}{cpu_text}")
        for name, row in result.get("throttle", {}).items():
            informative = "(info)" in name
            if not informative:
                ok &= row["passed"]
            verdict = "info" if informative else ("PASS" if row["passed"] else "FAIL")
            log(f"{backend:<10} throttle {name:<38} {row['median_error']:+.2%} of {row['expected']:g}/s: {verdict}")
    return ok


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_sender":
        return sender_main(argv[1], int(argv[2]), argv[3], float(argv[4]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=lambda v: [int(c) for c in v.split(",")], default=[1, 4],
                        help="comma list of --concurrency values for the worker runs (default: 1,4)")
    parser.add_argument("--throttle-rate", type=float, default=20.0)
    parser.add_argument("--throttle-seconds", type=float, default=10.0)
    parser.add_argument("--throttle-rounds", type=int, default=3)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-throttle", action="store_true")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--log-level", default="INFO", help="the workers' ROKO_LOG_LEVEL (default: INFO)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # so that the database is dropped and children stopped
    _, stamp, logs, _ = start_run("dispatch", argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: dict[str, Any] = {"machine": machine(), "command": " ".join([sys.executable, *sys.argv]),
                               "args": vars(args), "backends": {}}
    log(f"machine: {results['machine']}")
    try:
        for backend in backends:
            results["backends"][backend] = run_backend(backend, args, logs)
    except BenchError as exc:
        log(f"BENCH ERROR: {exc}")
        return 2
    finally:
        out = RESULTS / f"dispatch-{stamp}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        log(f"results: {out.relative_to(ROOT)}; logs: {logs.relative_to(ROOT)}/")
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
