#!/usr/bin/env python3
"""Benchmark of the classifier: one worker process draining a backlog of stored SMS.

    cd /work/main && .venv/bin/python bench/classify.py [--backend sqlite|postgresql|both]
        [--sms 100000] [--numbers 5000] [--batch-sizes 20,100,500] [--rounds 3]
        [--log-level INFO] [--seed 1]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each backend it

1. builds a prepared database once: a fresh database (SQLite: a temporary file;
   PostgreSQL: a dedicated ``roko_bench_<random>`` database created through
   ``--pg-url``, dropped at the end, even on error) with the real migrations; the
   campaign's codes imported through ``roko_app.services.code_registry.import_codes``
   (one batch, one commit); then ``--sms`` stored, unclassified inbound SMS, inserted
   in bulk (Core ``executemany``; ids in arrival order, ``received_at`` spread over the
   last 12 hours), from ``--numbers`` numbers. The mix (fixed by ``--seed``): valid codes
   (new to the number, or again), the number's own code again (duplicate), a code
   another number used (already used), unregistered codes (a few "guessing" numbers
   send mostly those and get blocked, then stay silent), bad formats, opt-outs, and 1%
   of foreign senders (no reply). PostgreSQL: ``VACUUM ANALYZE inbound_sms, code``
   after the load, as autovacuum would; the tables the classifier fills stay never
   analysed, as in a new database (analysed while empty, their generic plans would
   scan: see bench/README.md);
2. for each round and each configuration (every ``--batch-sizes`` value), in an order
   that rotates from round to round: copies the prepared database
   (SQLite: the file; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``), runs ONE worker
   process on it as a subprocess, ``flask --app wsgi roko worker --once --jobs
   classify`` with ``ROKO_CLASSIFY_BATCH_SIZE=<b>`` (log level ``--log-level``, written
   to a file), and times it; then checks the copy and drops it.

SMS/s is the backlog divided by the classifier's own time (the ``classifier: N
classified ... in X s`` line the command prints: process start-up and imports are not
counted); the process's wall time is recorded too. Each run also records the worker's
CPU per SMS, the cores busy with anything else (PostgreSQL's backend, other tenants),
and the load average. Checks after every run: every SMS is marked classified and has
exactly one entry, none failed or was parked, at most one reply per SMS and none to a
foreign sender, as many valid entries as codes marked used, and the same outcomes for
every SMS in every run and on both backends (a digest of ``(sms id, outcome,
chances)``): classification does not depend on the batch size or the backend.

Prints a table (median over rounds per configuration; target >= 500 SMS/s) and writes
everything to ``bench/results/classify-<timestamp>.json`` (gitignored), the workers'
logs to ``bench/results/classify-<timestamp>-logs/``. Exit status: 0 when every
target is met, 1 when one is missed, 2 when the benchmark itself failed. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_PG_URL,
    RESULTS,
    ROOT,
    BenchError,
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

TARGET_RATE = 500.0  # SMS/s, one worker process
DEFAULT_BATCH = 100  # CLASSIFY_BATCH_SIZE's default (config.py)
RUN_TIMEOUT = 1800  # seconds one worker may take
CODE_BATCH = "BENCH"
SUMMARY_LINE = re.compile(r"^classifier: (\d+) classified, (\d+) failed \((\d+) parked\), in ([0-9.]+) s$", re.M)


# --------------------------------------------------------------------------- the backlog


@dataclass
class Backlog:
    """The SMS rows to store, and what the generator meant each one to be (for the report)."""

    codes: list[str]
    rows: list[dict[str, Any]]
    intents: Counter[str]


def make_backlog(count: int, numbers: int, seed: int) -> Backlog:
    """``count`` inbound SMS from ``numbers`` numbers, in arrival order (see the module docstring)."""
    rng = random.Random(seed)
    pool = rng.sample(range(10**8), count + 2 * numbers)
    registered = [f"U{n:08d}" for n in pool[: int(count * 0.7)]]  # the registry
    unregistered = (f"U{n:08d}" for n in pool[int(count * 0.7):])  # never imported
    fresh = iter(registered)
    senders = [f"6{n:08d}" for n in rng.sample(range(2 * 10**7, 10**8), numbers)]
    foreign = senders[: max(numbers // 100, 1)]  # sent as +33...: kept as received, no reply
    guessers = senders[len(foreign): len(foreign) + max(numbers // 40, 1)]
    honest = senders[len(foreign) + len(guessers):]
    own: dict[str, list[str]] = {}  # codes a number has sent (its valid ones)
    used: list[str] = []
    intents: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    start = datetime.now(UTC) - timedelta(hours=12)
    step = timedelta(hours=12) / count
    foreign_set = set(foreign)
    kinds = ["valid", "duplicate", "already_used", "invalid", "bad_format", "opt_out"]
    weights = [60, 8, 3, 10, 17, 2]
    for i in range(count):
        roll = rng.random()
        if roll < 0.08:
            sender, kind = rng.choice(guessers), ("invalid" if rng.random() < 0.9 else "valid")
        else:
            sender = rng.choice(foreign) if roll < 0.09 else rng.choice(honest)
            kind = rng.choices(kinds, weights)[0]
        if kind == "duplicate" and not own.get(sender):
            kind = "valid"
        if kind == "already_used" and not used:
            kind = "valid"
        if kind == "valid":
            code = next(fresh, None)
            if code is None:
                kind, code = "invalid", next(unregistered)
            else:
                own.setdefault(sender, []).append(code)
                used.append(code)
        elif kind == "duplicate":
            code = rng.choice(own[sender])
        elif kind == "already_used":
            code = rng.choice(used)
        elif kind == "invalid":
            code = next(unregistered)
        text = _text(rng, kind, code if kind not in ("bad_format", "opt_out") else "")
        intents[kind] += 1
        received = start + step * i
        rows.append({
            "gateway_sms_id": i + 1, "port": 17, "sender": "+33" + sender if sender in foreign_set else sender,
            "text": text, "gateway_timestamp": received - timedelta(seconds=2), "received_at": received,
            "source": "topaz",
        })
    return Backlog(registered, rows, intents)


def _text(rng: random.Random, kind: str, code: str) -> str:
    if kind == "opt_out":
        return rng.choice(["STOP", "stop", "ROKO STOP", "Arrêt", "DESABONNER"])
    if kind == "bad_format":
        return rng.choice(["ROKO", "bonjour", "ROKO 12345678", "U1234", "ROKO U1234 5678", "merci",
                           "ROKO U123456789", "combien de chances ?"])
    return rng.choice(["ROKO {}", "roko {}", "ROKO-{}", "{}", "ROKO {} merci", "Roko {}"]).format(
        code if rng.random() < 0.8 else code.lower())


def import_registry(database_url: str, codes: list[str]) -> None:
    """Load ``codes`` into the registry (batch ``BENCH``) with the registry's own CSV
    import (``code_registry.import_codes``), committed once."""
    from roko_app import create_app
    from roko_app.extensions import db
    from roko_app.services.code_registry import import_codes

    app = create_app({"DATABASE_URL": database_url, "ENV": "dev", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        csv_text = "code\n" + "\n".join(codes) + "\n"
        report = import_codes(io.StringIO(csv_text), CODE_BATCH, app.config["CODE_KEY"])
        db.session.commit()
        db.engine.dispose()
    if report.inserted != len(codes):
        raise BenchError(f"code import: {report.inserted} inserted of {len(codes)} ({report.error_count} bad)")


def prepare(database_url: str, backlog: Backlog) -> dict[str, Any]:
    """Import the codes and store the backlog in bulk."""
    from sqlalchemy import create_engine, insert, text

    from roko_app.models import InboundSms
    from roko_app.sms.msisdn import guinea_msisdn_or_none

    started = time.perf_counter()
    import_registry(database_url, backlog.codes)
    imported = time.perf_counter()
    engine = create_engine(database_url)
    try:
        rows = [{**row, "sender_msisdn": guinea_msisdn_or_none(row["sender"])} for row in backlog.rows]
        with engine.begin() as conn:
            for offset in range(0, len(rows), 10_000):
                conn.execute(insert(InboundSms.__table__), rows[offset:offset + 10_000])
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE inbound_sms, code"))  # the loaded tables only
    finally:
        engine.dispose()
    return {"codes": len(backlog.codes), "sms": len(rows), "import_s": imported - started,
            "insert_s": time.perf_counter() - imported}


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class Config:
    backend: str
    batch: int

    @property
    def name(self) -> str:
        return f"{self.backend} batch {self.batch}"


def run_worker(config: Config, database_url: str, log_path: Path, log_level: str) -> dict[str, Any]:
    env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=database_url, ROKO_LOG_LEVEL=log_level,
                     ROKO_CLASSIFY_BATCH_SIZE=str(config.batch))
    load = loadavg()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, _, _ = machine_cpu()
    started = time.perf_counter()
    with open(log_path, "ab") as err:
        result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker", "--once",
                                 "--jobs", "classify"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err,
                                timeout=RUN_TIMEOUT, check=False)
    wall = time.perf_counter() - started
    busy = machine_cpu()[0] - busy_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    output = result.stdout.decode(errors="replace")
    match = SUMMARY_LINE.search(output)
    if result.returncode != 0 or match is None:
        raise BenchError(f"{config.name}: the worker exited with {result.returncode}: {output[-500:]}; see {log_path}")
    classified, failed, parked, seconds = int(match[1]), int(match[2]), int(match[3]), float(match[4])
    return {"classified": classified, "failed": failed, "parked": parked, "classifier_s": seconds,
            "rate": classified / seconds if seconds else float("inf"), "process_wall_s": wall,
            "worker_cpu_ms_per_sms": 1000 * cpu / max(classified, 1),
            "other_busy_cores": (busy - cpu) / wall, "loadavg_1m_before": load, "loadavg_1m_after": loadavg()}


def check(database_url: str, expected: int) -> dict[str, Any]:
    """The state after a run; raises BenchError on any broken guarantee."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    q = {
        "sms": "SELECT count(*) FROM inbound_sms",
        "unclassified": "SELECT count(*) FROM inbound_sms WHERE classified_at IS NULL",
        "parked_or_failed": "SELECT count(*) FROM inbound_sms WHERE parked_at IS NOT NULL OR classify_attempts > 0",
        "entries": "SELECT count(*) FROM entry",
        "sms_without_one_entry": "SELECT count(*) FROM inbound_sms s WHERE (SELECT count(*) FROM entry e "
                                 "WHERE e.sms_id = s.id) <> 1",
        "replies": "SELECT count(*) FROM outbound_sms WHERE reply_to_sms_id IS NOT NULL",
        "sms_with_several_replies": "SELECT count(*) FROM (SELECT reply_to_sms_id FROM outbound_sms WHERE "
                                    "reply_to_sms_id IS NOT NULL GROUP BY reply_to_sms_id HAVING count(*) > 1) d",
        "replies_to_foreign": "SELECT count(*) FROM outbound_sms o JOIN inbound_sms s ON s.id = o.reply_to_sms_id "
                              "WHERE s.sender_msisdn IS NULL",
        "valid_entries": "SELECT count(*) FROM entry WHERE outcome IN ('VALID_FIRST', 'VALID_AGAIN')",
        "codes_used": "SELECT count(*) FROM code WHERE used_by IS NOT NULL",
        "blocked_numbers": "SELECT count(*) FROM participant WHERE blocked_until IS NOT NULL",
    }
    try:
        with engine.connect() as conn:
            found = {name: int(conn.execute(text(sql)).scalar_one()) for name, sql in q.items()}
            outcomes = dict(conn.execute(text("SELECT outcome, count(*) FROM entry GROUP BY outcome")).all())
            digest = hashlib.sha256()
            for sms_id, outcome, chances in conn.execute(
                    text("SELECT sms_id, outcome, chances FROM entry ORDER BY sms_id")):
                digest.update(f"{sms_id}:{outcome}:{chances}\n".encode())
    finally:
        engine.dispose()
    problems = []
    if found["sms"] != expected or found["entries"] != expected:
        problems.append(f"{found['sms']} SMS and {found['entries']} entries, expected {expected} of each")
    for name in ("unclassified", "parked_or_failed", "sms_without_one_entry", "sms_with_several_replies",
                 "replies_to_foreign"):
        if found[name]:
            problems.append(f"{name}: {found[name]}")
    if found["valid_entries"] != found["codes_used"]:
        problems.append(f"{found['valid_entries']} valid entries but {found['codes_used']} codes marked used")
    if problems:
        raise BenchError("check failed: " + "; ".join(problems))
    return {**found, "outcomes": dict(sorted(outcomes.items())), "digest": digest.hexdigest()}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--sms", type=int, default=100_000, help="stored SMS in the backlog (100000)")
    parser.add_argument("--numbers", type=int, default=5_000, help="distinct senders (5000)")
    parser.add_argument("--batch-sizes", default="20,100,500",
                        help="comma list of ROKO_CLASSIFY_BATCH_SIZE values (20,100,500)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log-level", default="INFO", help="the worker's ROKO_LOG_LEVEL (INFO, the production default)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError:
        parser.error("--batch-sizes: a comma list of integers")
    if not args.batch_sizes or min(args.batch_sizes) < 1 or args.rounds < 1 or args.sms < 100 or args.numbers < 100:
        parser.error("--batch-sizes, --rounds must be positive; --sms and --numbers at least 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("classify"):
        return 2
    started, stamp, logs, command = start_run("classify", argv)
    info = describe_run(command)
    backends = selected_backends(args.backend)
    configs = [Config(b, size) for b in backends for size in args.batch_sizes]
    backlog = make_backlog(args.sms, args.numbers, args.seed)
    log(f"backlog: {args.sms} SMS from {args.numbers} numbers, {len(backlog.codes)} codes; meant as "
        + ", ".join(f"{k} {v}" for k, v in backlog.intents.most_common()))
    runs: list[dict[str, Any]] = []
    prepared: dict[str, Any] = {}
    failure = None
    try:
        with contextlib.ExitStack() as stack:
            urls = {}
            for backend in backends:
                urls[backend] = stack.enter_context(migrated_database(backend, args.pg_url, "roko-classify-"))
                prepared[backend] = {**prepare(urls[backend], backlog), "database": server_version(urls[backend])}
                log(f"{backend}: prepared in {prepared[backend]['import_s']:.1f} s (codes) + "
                    f"{prepared[backend]['insert_s']:.1f} s (SMS); {prepared[backend]['database']}")
            for number in range(1, args.rounds + 1):
                shift = (number - 1) % len(configs)
                for config in configs[shift:] + configs[:shift]:
                    with database_copy(urls[config.backend], args.pg_url) as url:
                        run = run_worker(config, url, logs / f"{config.backend}-worker.log", args.log_level)
                        run.update(config=config.name, round=number, backend=config.backend, batch=config.batch,
                                   code=code_version(),
                                   **check(url, args.sms))
                    runs.append(run)
                    log(f"  round {number} {config.name:<28} {run['rate']:7.1f} SMS/s ({run['classifier_s']:.1f} s; "
                        f"process {run['process_wall_s']:.1f} s)  worker CPU {run['worker_cpu_ms_per_sms']:.2f} ms/SMS"
                        f"  other busy {run['other_busy_cores']:.2f}  load {run['loadavg_1m_before']:.1f}"
                        f"  replies {run['replies']}  digest {run['digest'][:10]}")
    except (BenchError, subprocess.TimeoutExpired) as exc:
        failure = str(exc)
        log(f"ERROR: {exc}")
    digests = {run["digest"] for run in runs}
    if len(digests) > 1:
        failure = failure or f"the outcomes differ between runs: {sorted(d[:10] for d in digests)}"
        log(f"ERROR: {failure}")
    summary = summarize(runs, configs)
    report(summary, runs)
    met = failure is None and bool(runs) and all(row["passed"] for row in summary.values())
    info["loadavg_end"] = os.getloadavg()
    out = RESULTS / f"classify-{stamp}.json"
    out.write_text(json.dumps({
        "command": command, "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
        "settings": {**vars(args), "worker": "flask --app wsgi roko worker --once --jobs classify",
                     "target_rate": TARGET_RATE},
        "backlog_intents": dict(backlog.intents), "prepared": prepared, "summary": summary, "runs": runs,
        "failure": failure, "all_targets_met": met,
    }, indent=2, default=str))
    log(f"\nresults: {out.relative_to(ROOT)}; logs: {logs.relative_to(ROOT)}/")
    if failure is not None or not runs:
        return 2
    return verdict(met)


def summarize(runs: list[dict[str, Any]], configs: list[Config]) -> dict[str, Any]:
    summary = {}
    for config in configs:
        mine = [r for r in runs if r["config"] == config.name]
        if not mine:
            continue
        rate = median([r["rate"] for r in mine])
        summary[config.name] = {
            "rate": rate, "rounds": [round(r["rate"], 1) for r in mine],
            "classifier_s": median([r["classifier_s"] for r in mine]),
            "worker_cpu_ms_per_sms": median([r["worker_cpu_ms_per_sms"] for r in mine]),
            "other_busy_cores": median([r["other_busy_cores"] for r in mine]),
            "load": [round(r["loadavg_1m_before"], 1) for r in mine],
            "passed": rate >= TARGET_RATE,
        }
    return summary


def report(summary: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    log(f"\nmedians ({len(runs)} runs); target >= {TARGET_RATE:g} SMS/s with one worker process")
    log(f"  {'configuration':<28}{'SMS/s':>9}{'seconds':>9}{'CPU ms/SMS':>12}{'other busy':>12}  rounds / load")
    for name, row in summary.items():
        log(f"  {name:<28}{row['rate']:>9.1f}{row['classifier_s']:>9.1f}{row['worker_cpu_ms_per_sms']:>12.2f}"
            f"{row['other_busy_cores']:>12.2f}  {row['rounds']} / {row['load']}  {'PASS' if row['passed'] else 'FAIL'}")
    if runs:
        first = runs[0]
        log(f"  outcomes (every run): {first['outcomes']}; replies {first['replies']}, "
            f"blocked numbers {first['blocked_numbers']}")


if __name__ == "__main__":
    sys.exit(main())
