#!/usr/bin/env python3
"""Delivery reports: 10,000 gateway reports posted in batches of 100 to the status webhook.

    cd /work/main && .venv/bin/python bench/delivery_reports.py [--backend sqlite|postgresql|both]
        [--reports 10000] [--batch 100] [--clients 2] [--sample 0.1] [--rounds 3] [--seed 1]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Issue 14's target: "10,000 delivery reports posted in batches of 100 are applied in
< 10 s on each backend". For each backend it

1. builds a prepared database once: a fresh database (SQLite: a temporary file;
   PostgreSQL: a dedicated ``roko_bench_<random>`` database created through
   ``--pg-url``, dropped at the end, even on error) with the real migrations, then
   ``--reports`` outbound messages in status ``SENT``, each with its gateway id (sent an
   hour ago), inserted in bulk (Core ``executemany``). PostgreSQL: ``VACUUM ANALYZE
   outbound_sms`` after the load, as autovacuum would;
2. for each of ``--rounds`` rounds, copies the prepared database (SQLite: the file;
   PostgreSQL: ``CREATE DATABASE ... TEMPLATE``) and starts the app on the copy under
   ``gunicorn -w 2 -k sync`` (``wsgi:app``) on a loopback port, with a per-round webhook
   token (``ROKO_WEBHOOK_INBOUND_TOKEN``) and ``ROKO_LOG_LEVEL=WARNING``. One report per
   message, 8 in 10 ``delivered``, 1 ``failed`` (with a reason), 1 ``expired``, in an
   order shuffled once (``--seed``: reports arrive in delivery order, not in our id
   order, so concurrent batches name interleaved messages), cut into batches of
   ``--batch`` and posted as ``{"reports": [...]}`` to ``POST
   /api/v1/webhooks/topaz/status`` by ``--clients`` threads (each a
   ``requests.Session``; the next thread free takes the next batch) in three passes:

   - **first**: every batch once. Timed: the wall time from the start of the first POST
     to the last answer (the target: < 10 s), per-request p50/p99, requests/s and
     reports/s;
   - **replay**: every batch of the first pass again, timed the same way. Each answer
     must say ``applied: 0``;
   - **contradict**: for a sample (``--sample``, 10%) of the messages, a report with
     another final status (delivered <-> failed, expired -> delivered) dated earlier
     than the first one (out of order), same gateway id, in batches of ``--batch``. Each
     answer must say ``applied: 0``: a final status never changes.

Checks (any failure makes the run exit 2): every answer is 200 with ``received`` = the
batch's size, ``unknown`` 0 and ``applied`` as above (docs/topaz-gateway.md §4: the
batch's size in the first pass, 0 afterwards); after the first pass every message is in
the status its report said (``delivered`` -> DELIVERED, ``failed`` -> UNDELIVERED,
``expired`` -> EXPIRED) with its ``delivered_at`` set; after the replay and after the
contradicting pass, a digest of every message's ``(id, status, gateway_sms_id,
delivered_at, delivery_reason, updated_at)`` is the one taken after the first pass;
``delivery_report`` holds one row per report posted (every report is recorded, applied
or not), each naming its message, with ``applied`` true exactly once per message (its
first-pass report) and false for every replay and contradicting report.

Prints a table (median over rounds per backend) and writes everything to
``bench/results/delivery_reports-<timestamp>.json`` (gitignored), the app's logs to
``bench/results/delivery_reports-<timestamp>-logs/``. The load average is recorded
before each round. Exit status: 0 when the target is met on every backend, 1 when it
is missed, 2 when the benchmark itself failed. Loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_PG_URL,
    RESULTS,
    ROOT,
    BenchError,
    Server,
    argument_parser,
    code_version,
    database_copy,
    describe_run,
    exit_on_sigterm,
    have_sqlalchemy,
    loadavg,
    log,
    machine_cpu,
    median,
    migrated_database,
    selected_backends,
    server_env,
    server_version,
    start_run,
    verdict,
)
from reply_latency import percentile

TARGET_S = 10.0  # the first pass, wall time
PATH = "/api/v1/webhooks/topaz/status"
GATEWAY_ID_BASE = 7_000_000
REQUEST_TIMEOUT = 60
STATUS_OF = {"delivered": "DELIVERED", "failed": "UNDELIVERED", "expired": "EXPIRED"}
CONTRADICTION = {"delivered": "failed", "failed": "delivered", "expired": "delivered"}
REASON = "absent subscriber"


# --------------------------------------------------------------------------- the messages and the reports


@dataclass(frozen=True)
class Message:
    id: int
    gateway_sms_id: int


def prepare(database_url: str, count: int) -> tuple[list[Message], dict[str, Any]]:
    """Insert ``count`` SENT messages with gateway ids in bulk; the messages (in id order)."""
    from sqlalchemy import create_engine, insert, select, text

    from roko_app.models import OutboundSms

    started = time.perf_counter()
    now = datetime.now(UTC)
    sent = now - timedelta(hours=1)
    rows = [{"to_msisdn": f"62{i % 10_000_000:07d}", "text": "ROKO: votre code est bien enregistré.",
             "encoding": "GSM-7", "units": 1, "status": "SENT", "priority": 0, "port": 17, "attempts": 1,
             "next_attempt_at": sent, "created_at": sent, "updated_at": sent, "sent_at": sent,
             "gateway_sms_id": GATEWAY_ID_BASE + i, "caller": "system"} for i in range(count)]
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            for offset in range(0, len(rows), 10_000):
                conn.execute(insert(OutboundSms.__table__), rows[offset:offset + 10_000])
            table = OutboundSms.__table__
            found = conn.execute(select(table.c.id, table.c.gateway_sms_id).order_by(table.c.id)).all()
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE outbound_sms"))
    finally:
        engine.dispose()
    messages = [Message(int(i), int(g)) for i, g in found]
    if len(messages) != count:
        raise BenchError(f"prepare: {len(messages)} messages stored, expected {count}")
    return messages, {"messages": count, "insert_s": time.perf_counter() - started}


@dataclass
class Plan:
    """The reports of the three passes, cut into bodies, and what the first pass must leave."""

    first: list[list[dict[str, Any]]]
    contradict: list[list[dict[str, Any]]]
    expected: dict[int, str]  # message id -> status after the first pass
    mix: dict[str, int]


def make_plan(messages: list[Message], batch: int, sample: float, seed: int) -> Plan:
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    statuses = ["delivered"] * 8 + ["failed", "expired"]
    order = list(messages)
    rng.shuffle(order)
    reports, expected, said = [], {}, {}
    mix = {name: 0 for name in STATUS_OF}
    for n, message in enumerate(order):
        status = statuses[n % 10]
        said[message.id] = status
        expected[message.id] = STATUS_OF[status]
        mix[status] += 1
        reports.append(_report(message, status, base + timedelta(seconds=2 + n // 100)))
    chosen = rng.sample(order, max(1, int(len(order) * sample))) if sample > 0 else []
    contradicting = [_report(m, CONTRADICTION[said[m.id]], base + timedelta(seconds=1)) for m in chosen]
    return Plan(first=_cut(reports, batch), contradict=_cut(contradicting, batch), expected=expected, mix=mix)


def _report(message: Message, status: str, at: datetime) -> dict[str, Any]:
    return {"client_ref": f"roko-out-{message.id}", "gateway_sms_id": message.gateway_sms_id, "status": status,
            "at": at.isoformat().replace("+00:00", "Z"), "reason": REASON if status == "failed" else None}


def _cut(reports: list[dict[str, Any]], batch: int) -> list[list[dict[str, Any]]]:
    return [reports[i:i + batch] for i in range(0, len(reports), batch)]


# --------------------------------------------------------------------------- posting


@dataclass
class Answer:
    index: int
    size: int
    status: int = 0
    body: Any = None
    started: float = 0.0
    finished: float = 0.0


@dataclass
class Pass:
    name: str
    bodies: list[list[dict[str, Any]]]
    answers: list[Answer] = field(default_factory=list)
    wall_s: float = 0.0


def post_pass(port: int, token: str, bodies: list[list[dict[str, Any]]], clients: int, name: str) -> Pass:
    """POST every body from ``clients`` threads (each a requests.Session; the next thread
    free takes the next body); the wall time runs from the first POST's start to the last answer."""
    import requests

    url = f"http://127.0.0.1:{port}{PATH}"
    headers = {"X-Roko-Webhook-Token": token, "Content-Type": "application/json"}
    payloads = [json.dumps({"reports": body}).encode() for body in bodies]
    answers = [Answer(i, len(body)) for i, body in enumerate(bodies)]
    lock = threading.Lock()
    next_index = iter(range(len(bodies)))
    errors: list[str] = []

    def work() -> None:
        with requests.Session() as session:
            while True:
                with lock:
                    i = next(next_index, None)
                if i is None:
                    return
                answer = answers[i]
                answer.started = time.perf_counter()
                try:
                    response = session.post(url, data=payloads[i], headers=headers, timeout=REQUEST_TIMEOUT)
                    answer.status = response.status_code
                    try:
                        answer.body = response.json()
                    except ValueError:
                        answer.body = response.text[:300]
                except requests.RequestException as exc:
                    errors.append(f"{name} body {i}: {type(exc).__name__}: {exc}")
                finally:
                    answer.finished = time.perf_counter()

    threads = [threading.Thread(target=work, name=f"{name}-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=len(bodies) * REQUEST_TIMEOUT)
        if thread.is_alive():
            raise BenchError(f"{name}: a posting thread did not finish")
    if errors:
        raise BenchError(f"{name}: {len(errors)} request(s) failed, the first: {errors[0]}")
    done = Pass(name, bodies, answers)
    if answers:
        done.wall_s = max(a.finished for a in answers) - min(a.started for a in answers)
    return done


def check_answers(done: Pass, applied_all: bool) -> list[str]:
    """Every answer 200 with received = the body's size, unknown 0, and applied = the
    size (``applied_all``) or 0."""
    problems = []
    for answer in done.answers:
        want = {"status": "ok", "received": answer.size, "applied": answer.size if applied_all else 0, "unknown": 0}
        if answer.status != 200 or answer.body != want:
            problems.append(f"{done.name} body {answer.index}: HTTP {answer.status} {answer.body!r}, expected {want}")
    return problems[:5] + ([f"... {len(problems) - 5} more"] if len(problems) > 5 else [])


def timings(done: Pass) -> dict[str, Any]:
    durations = sorted(a.finished - a.started for a in done.answers)
    reports = sum(a.size for a in done.answers)
    return {"wall_s": done.wall_s, "requests": len(done.answers), "reports": reports,
            "request_p50_ms": 1000 * percentile(durations, 50), "request_p99_ms": 1000 * percentile(durations, 99),
            "request_max_ms": 1000 * durations[-1] if durations else float("nan"),
            "requests_per_s": len(durations) / done.wall_s if done.wall_s else float("nan"),
            "reports_per_s": reports / done.wall_s if done.wall_s else float("nan")}


# --------------------------------------------------------------------------- the database


class Database:
    """Reads of one round's copy."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def digest(self) -> str:
        from sqlalchemy import text

        digest = hashlib.sha256()
        with self.engine.connect() as conn:
            for row in conn.execute(text("SELECT id, status, gateway_sms_id, delivered_at, delivery_reason, "
                                         "updated_at FROM outbound_sms ORDER BY id")):
                digest.update(("|".join(map(str, row)) + "\n").encode())
        return digest.hexdigest()

    def statuses(self) -> dict[int, tuple[str, bool]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return {int(i): (s, d is not None) for i, s, d in
                    conn.execute(text("SELECT id, status, delivered_at FROM outbound_sms"))}

    def reports(self) -> dict[str, int]:
        from sqlalchemy import text

        queries = {
            "rows": "SELECT count(*) FROM delivery_report",
            "applied": "SELECT count(*) FROM delivery_report WHERE applied",
            "without_message": "SELECT count(*) FROM delivery_report WHERE outbound_sms_id IS NULL",
            "messages_applied_not_once": "SELECT count(*) FROM outbound_sms o WHERE (SELECT count(*) FROM "
                                         "delivery_report r WHERE r.outbound_sms_id = o.id AND r.applied) <> 1",
        }
        with self.engine.connect() as conn:
            return {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in queries.items()}


def check_statuses(db: Database, expected: dict[int, str]) -> list[str]:
    found = db.statuses()
    wrong = [(i, found.get(i), want) for i, want in expected.items() if found.get(i, ("?", False)) != (want, True)]
    extra = set(found) - set(expected)
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} message(s) not in the status their report said (or without delivered_at), "
                        f"e.g. id {wrong[0][0]}: {wrong[0][1]} instead of {wrong[0][2]}")
    if extra:
        problems.append(f"{len(extra)} unexpected message(s)")
    return problems


def check_report_rows(db: Database, posted: int, messages: int, after: str) -> tuple[dict[str, int], list[str]]:
    rows = db.reports()
    want = {"rows": posted, "applied": messages, "without_message": 0, "messages_applied_not_once": 0}
    problems = [f"after {after}: delivery_report {name} = {rows[name]}, expected {value}"
                for name, value in want.items() if rows[name] != value]
    return rows, problems


# --------------------------------------------------------------------------- one round


def run_round(backend: str, url: str, plan: Plan, args: argparse.Namespace, logs: Path, number: int) -> dict[str, Any]:
    token = "bench-" + uuid.uuid4().hex
    env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=url, ROKO_WEBHOOK_INBOUND_TOKEN=token,
                     ROKO_LOG_LEVEL="WARNING")
    server = Server("app", "wsgi:app", env, logs / f"{backend}-app.log")
    db = Database(url)
    problems: list[str] = []
    result: dict[str, Any] = {"backend": backend, "round": number, "loadavg_1m_before": loadavg()}
    try:
        server.start()
        busy_before = machine_cpu()[0]
        first = post_pass(server.port, token, plan.first, args.clients, "first")
        busy = machine_cpu()[0] - busy_before
        problems += check_answers(first, applied_all=True)
        problems += check_statuses(db, plan.expected)
        digest = db.digest()
        posted = sum(len(b) for b in plan.first)
        rows, found = check_report_rows(db, posted, len(plan.expected), "the first pass")
        problems += found
        after = {}
        for name, bodies in (("replay", plan.first), ("contradict", plan.contradict)):
            after[name] = post_pass(server.port, token, bodies, args.clients, name)
            problems += check_answers(after[name], applied_all=False)
            if db.digest() != digest:
                problems.append(f"the {name} pass changed messages (digest differs)")
            posted += sum(len(b) for b in bodies)
            rows, found = check_report_rows(db, posted, len(plan.expected), f"the {name} pass")
            problems += found
        result.update(first=timings(first), replay=timings(after["replay"]),
                      contradict=timings(after["contradict"]),
                      machine_busy_cores_first=busy / first.wall_s if first.wall_s else float("nan"),
                      delivery_report=rows, digest=digest, loadavg_1m_after=loadavg(), code=code_version())
    finally:
        server.stop()
        db.close()
    if problems:
        raise BenchError(f"{backend} round {number}: " + "; ".join(problems) + f" (app log: {server.log_path})")
    return result


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--reports", type=int, default=10_000, help="messages, one report each (10000)")
    parser.add_argument("--batch", type=int, default=100, help="reports per POST (100)")
    parser.add_argument("--clients", type=int, default=2, help="threads posting (2)")
    parser.add_argument("--sample", type=float, default=0.1, help="share of messages sent a contradicting report (0.1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if args.reports < 10 or args.batch < 1 or args.clients < 1 or args.rounds < 1 or not 0 <= args.sample <= 1:
        parser.error("--reports at least 10; --batch, --clients, --rounds positive; --sample within 0..1")
    if args.batch > 1000:
        parser.error("--batch at most 1000 (DLR_MAX_REPORTS' default)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("delivery_reports"):
        return 2
    started, stamp, logs, command = start_run("delivery_reports", argv)
    info = describe_run(command)
    backends = selected_backends(args.backend)
    runs: list[dict[str, Any]] = []
    prepared: dict[str, Any] = {}
    mix: dict[str, int] = {}
    failure = None
    try:
        for backend in backends:
            with migrated_database(backend, args.pg_url, "roko-dlr-") as url:
                messages, prepared[backend] = prepare(url, args.reports)
                prepared[backend]["database"] = server_version(url)
                plan = make_plan(messages, args.batch, args.sample, args.seed)
                mix = plan.mix
                log(f"{backend}: {args.reports} SENT messages in {prepared[backend]['insert_s']:.1f} s; "
                    f"{prepared[backend]['database']}; reports {plan.mix}, {len(plan.first)} bodies, "
                    f"{sum(len(b) for b in plan.contradict)} contradicting")
                for number in range(1, args.rounds + 1):
                    with database_copy(url, args.pg_url) as copy:
                        run = run_round(backend, copy, plan, args, logs, number)
                    runs.append(run)
                    f, r = run["first"], run["replay"]
                    log(f"  round {number} {backend:<11} first {f['wall_s']:6.2f} s ({f['reports_per_s']:6.0f} "
                        f"reports/s, p50 {f['request_p50_ms']:.0f} ms, p99 {f['request_p99_ms']:.0f} ms)  "
                        f"replay {r['wall_s']:5.2f} s  contradict {run['contradict']['wall_s']:.2f} s  "
                        f"busy {run['machine_busy_cores_first']:.2f} cores  load {run['loadavg_1m_before']:.1f}")
    except BenchError as exc:
        failure = str(exc)
        log(f"ERROR: {exc}")
    summary = summarize(runs, backends)
    report(summary, args)
    met = failure is None and bool(runs) and all(row["passed"] for row in summary.values()) \
        and len(summary) == len(backends)
    info["loadavg_end"] = os.getloadavg()
    out = RESULTS / f"delivery_reports-{stamp}.json"
    out.write_text(json.dumps({
        "command": command, "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
        "settings": {**vars(args), "server": "gunicorn -w 2 -k sync wsgi:app", "path": PATH, "target_s": TARGET_S},
        "report_mix": mix, "prepared": prepared, "summary": summary, "runs": runs,
        "failure": failure, "all_targets_met": met,
    }, indent=2, default=str))
    log(f"\nresults: {out.relative_to(ROOT)}; logs: {logs.relative_to(ROOT)}/")
    if failure is not None or not runs:
        return 2
    return verdict(met)


def summarize(runs: list[dict[str, Any]], backends: list[str]) -> dict[str, Any]:
    summary = {}
    for backend in backends:
        mine = [r for r in runs if r["backend"] == backend]
        if not mine:
            continue
        row: dict[str, Any] = {}
        for name in ("first", "replay", "contradict"):
            row[name] = {key: median([r[name][key] for r in mine])
                         for key in ("wall_s", "request_p50_ms", "request_p99_ms", "requests_per_s", "reports_per_s")}
        row["rounds_first_s"] = [round(r["first"]["wall_s"], 2) for r in mine]
        row["load"] = [round(r["loadavg_1m_before"], 1) for r in mine]
        row["passed"] = row["first"]["wall_s"] < TARGET_S
        summary[backend] = row
    return summary


def report(summary: dict[str, Any], args: argparse.Namespace) -> None:
    log(f"\nmedians over rounds; target: {args.reports} reports in batches of {args.batch} applied in "
        f"< {TARGET_S:g} s (first pass, {args.clients} clients, gunicorn -w 2 -k sync)")
    log(f"  {'backend':<11}{'pass':<11}{'wall s':>8}{'reports/s':>11}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        "  rounds (first) / load")
    for backend, row in summary.items():
        for name in ("first", "replay", "contradict"):
            t = row[name]
            tail = (f"  {row['rounds_first_s']} / {row['load']}  {'PASS' if row['passed'] else 'FAIL'}"
                    if name == "first" else "")
            log(f"  {backend if name == 'first' else '':<11}{name:<11}{t['wall_s']:>8.2f}{t['reports_per_s']:>11.0f}"
                f"{t['requests_per_s']:>8.1f}{t['request_p50_ms']:>8.0f}{t['request_p99_ms']:>8.0f}{tail}")


if __name__ == "__main__":
    sys.exit(main())
