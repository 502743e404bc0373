#!/usr/bin/env python3
"""Benchmark of ``POST /api/v1/webhooks/topaz/inbound`` (store only) against a bare Flask baseline.

    cd /work/main && .venv/bin/python bench/inbound.py [--backend sqlite|postgresql|both]
        [--duration 10] [--rounds 5] [--connections 8] [--threads 2] [--warmup 2] [--settle 10]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--info-log]
        [--with-classifier] [--tree NAME=PATH ...]

The webhook stores the SMS (one ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, plus
``pg_notify`` on PostgreSQL) and commits; the worker classifies it later (not running
here: the rows stay unclassified). For each backend the script

1. creates a fresh database (SQLite: a temporary file; PostgreSQL: a dedicated
   ``roko_bench_<random>`` database created through ``--pg-url`` and dropped at the
   end, even on error) and runs the real migrations (``flask --app wsgi db upgrade``);
2. starts the app (``wsgi:app``) under ``gunicorn -w 2 -k sync`` (``--workers N``: every
   server, bare included) on a free loopback port with ``ROKO_LOG_LEVEL=WARNING`` and a per-run webhook token; the bare baseline
   (``bench/bare_app.py``: same JSON parse, same response, no database) runs under the
   same gunicorn settings;
3. sends one sample request to each (200 with the documented body; 401 without the
   token on ours), warms both up, then runs ``--rounds`` rounds of ``wrk`` (on this
   machine, ``bench/inbound.lua``: a unique ``gateway_sms_id`` per request),
   alternating the order from round to round;
4. checks every response was 2xx, a sample of bodies has the documented shape, and the
   ``inbound_sms`` row count matches the successful requests (give or take the
   requests in flight when wrk stops), with no id stored twice.

It prints, per backend, the median over rounds of req/s, p50 and p99 for ours and
bare, the ratio ours/bare and PASS/FAIL against the targets (ratio >= 0.45 on SQLite
and >= 0.25 on PostgreSQL; p99 of ours < 20 ms on SQLite and < 40 ms on PostgreSQL, at
8 connections), and writes everything, raw rounds included, to
``bench/results/inbound-<timestamp>.json`` (gitignored). Exit status: 0 when every
target is met, 1 when one is missed, 2 when the benchmark itself failed.

Besides req/s and latency, each round records the CPU the gunicorn workers used per
request, how many cores were busy with anything else (PostgreSQL, other tenants of a
shared machine) and the load average; before each round the script waits up to
``--settle`` seconds for the machine to be quiet. Extra servers can join the rotation
(measured in the same rounds as ours and bare): ``--info-log``, ours with
``ROKO_LOG_LEVEL=INFO`` (the production default, written to a file), and ``--tree
NAME=PATH`` (repeatable), ``ours_NAME``: another checkout's ``wsgi:app`` (made with
``git worktree add PATH <commit>``; it needs its compiled translations, e.g. copy
``roko_app/translations``) on the same database, to compare two versions of the code
under the same load (the trees must share the schema).
``--with-classifier`` runs a classifier (``flask roko worker --jobs classify``, with the
same settings as the server measured) during each of ours' rounds, so the webhook
competes with the classifier's batches for the database's write lock, as it does while
a backlog drains (the ratio is then not the target's measure; the webhook's p99 during
a drain is).

Requires ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk``). Run it with the project's
virtualenv (``.venv/bin/python``): it uses SQLAlchemy and gunicorn from there. All
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    DEFAULT_PG_URL,
    HOST,
    QUIET_CORES,
    RESULTS,
    ROOT,
    BenchError,
    Server,
    argument_parser,
    describe_run,
    exit_on_sigterm,
    have_sqlalchemy,
    log,
    machine_cpu,
    median,
    migrated_database,
    process_cpu,
    selected_backends,
    server_env,
    server_version,
    start_run,
    verdict,
    wait_for_quiet,
)

LUA_SCRIPT = BENCH / "inbound.lua"
PATH = "/api/v1/webhooks/topaz/inbound"

#: (ours/bare req/s at least, p99 of ours below, in ms) at TARGET_CONNECTIONS connections
TARGETS = {"sqlite": (0.45, 20.0), "postgresql": (0.25, 40.0)}
TARGET_CONNECTIONS = 8
SERVER_NAMES = ("ours", "ours_info_log", "bare")

WRK_TIMEOUT = "10s"  # a slower response counts as a timeout error (and fails the run)
CHECK_EVERY = 50  # wrk checks one response body in this many
EXPECTED_LOG_LINE = "inbound webhook rejected: missing token"  # from sanity_check's 401 probe


# --------------------------------------------------------------------------- helpers


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise BenchError(
            "wrk is not installed (it is the load generator of this benchmark).\n"
            "  Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y wrk\n"
            "  macOS:         brew install wrk\n"
            "then run this script again."
        )
    return wrk


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "?"


def sample_body(gateway_sms_id: int) -> bytes:
    return json.dumps({
        "gateway_sms_id": gateway_sms_id, "port": 17, "sender": "612345678", "text": "ROKO U12345678",
        "timestamp": "2026-05-15T10:30:00Z", "source": "topaz",
    }).encode()


def post(port: int, body: bytes, token: str | None) -> tuple[int, str]:
    """One request with the standard library (no proxy settings can apply)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Roko-Webhook-Token"] = token
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("POST", PATH, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


# --------------------------------------------------------------------------- databases


def stored_rows(database_url: str) -> tuple[int, int]:
    """(rows, distinct (gateway_sms_id, port) pairs) in inbound_sms."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM inbound_sms")).scalar_one()
            distinct = conn.execute(text(
                "SELECT count(*) FROM (SELECT DISTINCT gateway_sms_id, port FROM inbound_sms) AS d"
            )).scalar_one()
        return int(rows), int(distinct)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- wrk


@dataclass
class IdSource:
    """gateway_sms_id blocks: a run starts at a time-derived base (milliseconds x 1000:
    a later run starts past every id an earlier one can have used, below 2^53) and
    each wrk run moves it on by the ids it generated."""

    next_base: int = field(default_factory=lambda: int(time.time() * 1000) * 1000)

    def take(self) -> int:
        return self.next_base

    def used(self, count: int) -> None:
        self.next_base += count + 1


def run_wrk(wrk: str, server: Server, token: str, ids: IdSource, duration: float,
            connections: int, threads: int, settle: float = 0.0) -> dict[str, Any]:
    quiet_wait, busy_idle = wait_for_quiet(settle) if settle > 0 else (0.0, float("nan"))
    base = ids.take()
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", WRK_TIMEOUT,
           "--latency", "-s", str(LUA_SCRIPT), server.base_url + PATH, "--",
           str(base), str(threads), token, str(CHECK_EVERY)]
    load_before = os.getloadavg()[0]
    workers = server.worker_pids()
    workers_before = process_cpu(workers)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, total_before, _ = machine_cpu()
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120, check=False)
    busy_after, total_after, _ = machine_cpu()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = process_cpu(workers) - workers_before
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime
               - children_before.ru_utime - children_before.ru_stime)
    match = re.search(r"^BENCH_RESULT (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({result.returncode}) against {server.name}:\n"
                         f"{result.stdout}\n{result.stderr}")
    raw = json.loads(match.group(1))
    ids.used(int(raw["ids_used"]))
    bad = re.search(r"^BENCH_FIRST_BAD (.*)$", result.stdout, re.MULTILINE)
    seconds = raw["duration_us"] / 1e6
    lat = raw["latency_us"]
    errors = raw["errors"]
    return {
        "server": server.name,
        "base_id": base,
        "rps": raw["ok"] / seconds,
        "p50_ms": lat["p50"] / 1000,
        "p90_ms": lat["p90"] / 1000,
        "p99_ms": lat["p99"] / 1000,
        "max_ms": lat["max"] / 1000,
        "mean_ms": lat["mean"] / 1000,
        "ok": raw["ok"],
        "requests": raw["requests"],
        "non_2xx": raw["bad_status"],
        "socket_errors": {k: errors[k] for k in ("connect", "read", "write", "timeout")},
        "bodies_checked": raw["checked"],
        "bad_bodies": raw["bad_body"],
        "first_bad": bad.group(1) if bad else None,
        "ids_used": raw["ids_used"],
        "duration_s": seconds,
        "loadavg_1m_before": load_before,
        "settle_wait_s": quiet_wait,
        "busy_cores_before": busy_idle,  # machine busy in the last second before the round
        # CPU accounting over the wrk run (seconds, and cores on average):
        "server_cpu_ms_per_request": workers_cpu * 1000 / raw["ok"] if raw["ok"] else float("nan"),
        "server_cpu_s": workers_cpu,
        "wrk_cpu_s": wrk_cpu,
        "machine_busy_cores": (busy_after - busy_before) / seconds,
        "machine_cores": (total_after - total_before) / seconds,
        # everything busy that is neither the gunicorn workers nor wrk: PostgreSQL's
        # backends on postgresql, and other tenants of a shared machine (noise)
        "other_busy_cores": ((busy_after - busy_before) - workers_cpu - wrk_cpu) / seconds,
        "wrk_stdout": result.stdout,
    }


@contextlib.contextmanager
def classifier_for(server: Server, enabled: bool, logs: Path) -> Iterator[None]:
    """With ``enabled`` and a server of ours, a classifier process (same environment as the
    server) runs for the duration of the block."""
    if not enabled or server.name == "bare":
        yield
        return
    with open(logs / f"{server.name}-classifier.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker", "--jobs", "classify"],
                                cwd=server.chdir, env=server.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            time.sleep(3)  # imports and the first (empty) poll
            if proc.poll() is not None:
                raise BenchError(f"the classifier exited at start ({proc.returncode}); see {out.name}")
            yield
            if proc.poll() is not None:
                raise BenchError(f"the classifier died during the round; see {out.name}")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)


def check_round(r: dict[str, Any]) -> list[str]:
    problems = []
    if r["non_2xx"]:
        problems.append(f"{r['server']}: {r['non_2xx']} non-2xx responses (first: {r['first_bad']})")
    if r["bad_bodies"]:
        problems.append(f"{r['server']}: {r['bad_bodies']} of {r['bodies_checked']} checked bodies "
                        f"lacked status/sms_id (first: {r['first_bad']})")
    if r["socket_errors"]["timeout"]:
        problems.append(f"{r['server']}: {r['socket_errors']['timeout']} requests timed out (> {WRK_TIMEOUT})")
    if r["ok"] == 0:
        problems.append(f"{r['server']}: no successful request")
    return problems


# --------------------------------------------------------------------------- one backend


def sanity_check(ours: Server, bare: Server, token: str, ids: IdSource) -> int:
    """One request to each server, checked by hand. Returns the rows it stored."""
    gid = ids.take()
    ids.used(1)
    status, body = post(ours.port, sample_body(gid), None)
    if status != 401:
        raise BenchError(f"{ours.name}: without the token expected 401, got {status} {body[:200]}")
    for server in (ours, bare):
        status, body = post(server.port, sample_body(gid), token)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if status != 200 or not isinstance(parsed, dict) or parsed.get("status") != "accepted" \
                or not isinstance(parsed.get("sms_id"), int) or set(parsed) != {"status", "sms_id"}:
            raise BenchError(f"{server.name}: sample request answered {status} {body[:300]}")
    return 1


def bench_backend(backend: str, database_url: str, bare: Server, args: argparse.Namespace,
                  wrk: str, token: str, ids: IdSource, logs: Path) -> dict[str, Any]:
    version = server_version(database_url)
    log(f"\n=== {backend}: {version}")
    roko = {"ROKO_ENV": "dev", "ROKO_DATABASE_URL": database_url, "ROKO_WEBHOOK_INBOUND_TOKEN": token}
    servers = [Server("ours", "wsgi:app", server_env(**roko, ROKO_LOG_LEVEL="WARNING"),
                      logs / f"{backend}-ours.log", workers=args.workers)]
    if args.info_log:
        servers.append(Server("ours_info_log", "wsgi:app", server_env(**roko, ROKO_LOG_LEVEL="INFO"),
                              logs / f"{backend}-ours-info.log", workers=args.workers))
    for name, tree in args.tree:
        servers.append(Server(f"ours_{name}", "wsgi:app", server_env(**roko, ROKO_LOG_LEVEL="WARNING"),
                              logs / f"{backend}-ours-{name}.log", chdir=Path(tree), workers=args.workers))
    rounds: list[dict[str, Any]] = []
    problems: list[str] = []
    stored_ok = 0  # successful requests that stored a row (ours, all log levels)
    in_flight_allowance = 0
    try:
        for server in servers:
            server.start()
        stored_ok += sanity_check(servers[0], bare, token, ids)
        everyone = [*servers, bare]
        if args.warmup > 0:
            for server in everyone:
                r = run_wrk(wrk, server, token, ids, args.warmup, args.connections, args.threads)
                problems += check_round(r)
                if server is not bare:
                    stored_ok += r["ok"]
                    in_flight_allowance += args.connections
        for number in range(1, args.rounds + 1):
            order = everyone if number % 2 else list(reversed(everyone))
            for server in order:
                with classifier_for(server, args.with_classifier, logs):
                    r = run_wrk(wrk, server, token, ids, args.duration, args.connections, args.threads,
                                args.settle)
                r["round"] = number
                rounds.append(r)
                problems += check_round(r)
                if server is not bare:
                    stored_ok += r["ok"]
                    in_flight_allowance += args.connections
                log(f"  round {number} {server.name:<14} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms"
                    f"  p99 {r['p99_ms']:6.2f} ms  max {r['max_ms']:7.2f} ms  ok {r['ok']}"
                    f"  non-2xx {r['non_2xx']}  cpu {r['server_cpu_ms_per_request']:.2f} ms/req"
                    f"  other busy {r['other_busy_cores']:.2f} cores"
                    + (f"  (before: {r['busy_cores_before']:.2f} busy, waited {r['settle_wait_s']:.0f} s)"
                       if args.settle > 0 else ""))
    finally:
        for server in servers:
            server.stop()
    rows, distinct = stored_rows(database_url)
    # wrk stops with up to one request per connection sent but not yet answered: the
    # server may still store it. Fewer rows than successes would mean a replay.
    rows_ok = distinct == rows and stored_ok <= rows <= stored_ok + in_flight_allowance
    if not rows_ok:
        problems.append(f"inbound_sms holds {rows} rows ({distinct} distinct ids) for {stored_ok} "
                        f"successful requests (allowed up to {in_flight_allowance} more in flight)")
    for server in servers:
        if server.name == "ours" or server.name.startswith("ours_"):
            errors = [line for line in server.log_tail(200).splitlines()
                      if " ERROR " in line or "Traceback" in line or "[CRITICAL]" in line]
            if errors:
                problems.append(f"{server.name} logged errors, see {server.log_path}: {errors[0]}")
    return {
        "backend": backend,
        "database": version,
        "rounds": rounds,
        "row_check": {"rows": rows, "distinct": distinct, "successful_requests": stored_ok,
                      "in_flight_allowance": in_flight_allowance, "ok": rows_ok},
        "problems": problems,
        "summary": summarize(rounds, [s.name for s in servers] + [bare.name], backend),
    }


def summarize(rounds: list[dict[str, Any]], names: list[str], backend: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in names:
        mine = [r for r in rounds if r["server"] == name]
        summary[name] = {
            "rps": median([r["rps"] for r in mine]),
            "p50_ms": median([r["p50_ms"] for r in mine]),
            "p99_ms": median([r["p99_ms"] for r in mine]),
            "rounds_rps": [round(r["rps"], 1) for r in mine],
            "rounds_p99_ms": [r["p99_ms"] for r in mine],
            "cpu_ms_per_request": median([r["server_cpu_ms_per_request"] for r in mine]),
            "other_busy_cores": median([r["other_busy_cores"] for r in mine]),
        }
    ours, bare = summary["ours"], summary["bare"]
    paired = [o["rps"] / b["rps"] for o, b in zip(
        [r for r in rounds if r["server"] == "ours"], [r for r in rounds if r["server"] == "bare"], strict=True)]
    summary["ratio"] = ours["rps"] / bare["rps"]
    summary["ratio_paired_median"] = median(paired)
    summary["ratio_rounds"] = [round(p, 3) for p in paired]
    # the same comparison by server CPU per request, less sensitive to a noisy machine
    summary["cpu_ratio"] = bare["cpu_ms_per_request"] / ours["cpu_ms_per_request"]
    target_ratio, target_p99 = TARGETS[backend]
    summary["target_ratio"], summary["target_p99_ms"] = target_ratio, target_p99
    summary["ratio_pass"] = summary["ratio"] >= target_ratio
    summary["p99_pass"] = ours["p99_ms"] < target_p99
    for name in names:
        if name.startswith("ours_"):  # the variants, for comparison (no verdict)
            summary[name]["ratio"] = summary[name]["rps"] / bare["rps"]
    return summary


def print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    s = result["summary"]
    log(f"\n{result['backend']} ({result['database']}): median of {args.rounds} rounds x "
        f"{args.duration:g} s, {args.connections} connections, wrk {args.threads} threads, "
        f"gunicorn -w {args.workers} -k sync")
    log(f"  {'':<16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU ms/req':>12}{'other busy':>12}")
    for name in [n for n in SERVER_NAMES if n in s] + [f"ours_{n}" for n, _tree in args.tree]:
        log(f"  {name:<16}{s[name]['rps']:>10.1f}{s[name]['p50_ms']:>10.2f}{s[name]['p99_ms']:>10.2f}"
            f"{s[name]['cpu_ms_per_request']:>12.2f}{s[name]['other_busy_cores']:>12.2f}")
    log(f"  ratio ours/bare {s['ratio']:.3f} (median of per-round ratios {s['ratio_paired_median']:.3f}; "
        f"rounds {s['ratio_rounds']})  target >= {s['target_ratio']}  {'PASS' if s['ratio_pass'] else 'FAIL'}")
    log(f"  p99 ours        {s['ours']['p99_ms']:.2f} ms  target < {s['target_p99_ms']:g} ms"
        f"{'' if args.connections == TARGET_CONNECTIONS else f' (target is at {TARGET_CONNECTIONS} connections)'}"
        f"  {'PASS' if s['p99_pass'] else 'FAIL'}")
    log(f"  (CPU ms/req: gunicorn workers' CPU per successful request; bare/ours by CPU {s['cpu_ratio']:.3f};"
        " other busy: cores used by neither the workers nor wrk, i.e. PostgreSQL and other tenants)")
    if "ours_info_log" in s:
        cost = 1 - s["ours_info_log"]["rps"] / s["ours"]["rps"]
        log(f"  INFO logging costs {cost:.1%} of ours' req/s "
            f"(p99 {s['ours']['p99_ms']:.2f} -> {s['ours_info_log']['p99_ms']:.2f} ms)")
    for name, tree in args.tree:
        other = s[f"ours_{name}"]
        log(f"  ours_{name} ({tree}): ratio to bare {other['ratio']:.3f}; ours/ours_{name} req/s "
            f"{s['ours']['rps'] / other['rps']:.3f}, CPU per request {s['ours']['cpu_ms_per_request']:.2f} / "
            f"{other['cpu_ms_per_request']:.2f} ms")
    rc = result["row_check"]
    log(f"  rows stored {rc['rows']} for {rc['successful_requests']} successful requests "
        f"({'ok' if rc['ok'] else 'MISMATCH'})")
    for problem in result["problems"]:
        log(f"  PROBLEM: {problem}")


# --------------------------------------------------------------------------- main


def tree_argument(value: str) -> tuple[str, str]:
    name, _, path = value.partition("=")
    tree = Path(path).resolve()
    if not re.fullmatch(r"[A-Za-z0-9_-]+", name) or not (tree / "wsgi.py").is_file():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH with PATH a checkout of the app, got {value!r}")
    return name, str(tree)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per server (default 5)")
    parser.add_argument("--connections", type=int, default=TARGET_CONNECTIONS, help="wrk -c (default 8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t (default 2)")
    parser.add_argument("--workers", type=int, default=2,
                        help="gunicorn -w for every server, bare included (default 2)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument("--settle", type=float, default=10.0,
                        help=f"before each round wait up to this many seconds for the machine to be quiet "
                             f"(< {QUIET_CORES} cores busy over 1 s); 0 disables (default 10)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL,
                        help=f"admin connection used to create/drop the database (default {DEFAULT_PG_URL})")
    parser.add_argument("--info-log", action="store_true",
                        help="also measure ours with ROKO_LOG_LEVEL=INFO (per-request log lines on)")
    parser.add_argument("--tree", action="append", default=[], type=tree_argument, metavar="NAME=PATH",
                        help="also measure another checkout's app as ours_NAME (repeatable)")
    parser.add_argument("--with-classifier", action="store_true",
                        help="run a classifier during ours' rounds (contention with a backlog's batches)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.duration <= 0 or args.connections < 1 or args.threads < 1:
        parser.error("--rounds, --duration, --connections and --threads must be positive")
    if args.threads > args.connections:
        parser.error("wrk needs --connections >= --threads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("inbound"):
        return 2
    try:
        wrk = require_wrk()
    except BenchError as exc:
        log(f"ERROR: {exc}")
        return 2
    started, stamp, logs, command = start_run("inbound", argv)
    token = "bench-" + uuid.uuid4().hex
    ids = IdSource()
    info = describe_run(command, wrk=wrk_version(wrk))
    backends = selected_backends(args.backend)
    results: list[dict[str, Any]] = []
    failure = None
    bare = Server("bare", "bare_app:app", server_env(), logs / "bare.log", chdir=BENCH, workers=args.workers)
    try:
        bare.start()
        for backend in backends:
            with migrated_database(backend, args.pg_url) as database_url:
                results.append(bench_backend(backend, database_url, bare, args, wrk, token, ids, logs))
    except (BenchError, subprocess.TimeoutExpired) as exc:
        failure = str(exc)
        log(f"ERROR: {exc}")
    finally:
        bare.stop()
    for result in results:
        print_table(result, args)
    met = bool(results) and failure is None and all(
        r["summary"]["ratio_pass"] and r["summary"]["p99_pass"] and not r["problems"] for r in results)
    info["loadavg_end"] = os.getloadavg()
    out = RESULTS / f"inbound-{stamp}.json"
    out.write_text(json.dumps({
        "command": command,
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "settings": {**vars(args), "gunicorn": f"-w {args.workers} -k sync --log-level warning", "wrk_timeout": WRK_TIMEOUT,
                     "app_log_level": "WARNING",
                     "targets": {backend: {"ratio_min": ratio, "p99_ms_max": p99, "connections": TARGET_CONNECTIONS}
                                 for backend, (ratio, p99) in TARGETS.items()}},
        "results": results,
        "failure": failure,
        "all_targets_met": met,
    }, indent=2))
    for path in logs.glob("*.log"):  # keep only logs that say something unexpected
        lines = path.read_text(errors="replace").splitlines()
        if path.name.endswith("-ours-info.log") or all(EXPECTED_LOG_LINE in line for line in lines):
            path.unlink()
    with contextlib.suppress(OSError):
        logs.rmdir()  # only when empty
    log(f"\nresults: {out.relative_to(ROOT)}")
    if failure is not None or not results:
        return 2
    problems = [p for r in results for p in r["problems"]]
    if problems:
        log("the run had problems (see above): its figures are not trustworthy")
        return 2
    return verdict(met)


if __name__ == "__main__":
    sys.exit(main())
