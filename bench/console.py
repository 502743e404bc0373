#!/usr/bin/env python3
"""Benchmark of the console's read pages with 1,000,000 entries.

    cd /work/main && .venv/bin/python bench/console.py [--backend sqlite|postgresql|both]
        [--entries 1000000] [--requests 200] [--warmup 10] [--deep-pages 50]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each backend it

1. creates a fresh database (SQLite: a temporary file; PostgreSQL: a dedicated
   ``roko_bench_<random>`` database, dropped at the end even on error), runs the real
   migrations, and bulk-loads ``--entries`` entries spread over the last 60 days with
   their inbound SMS (one each), an auto-reply each in the outbox (0.5 % FAILED, the
   latest few QUEUED) and 200,000 participants (SQLite: ``executemany`` in 10,000-row
   chunks; PostgreSQL: ``COPY``, then ``VACUUM ANALYZE`` as autovacuum would after a
   bulk load). Timestamps follow the ids, as real inserts do;
2. records the query plans (``EXPLAIN QUERY PLAN`` / ``EXPLAIN ANALYZE``) of the entry
   pages and times the dashboard's aggregate queries in-process;
3. creates a console user through ``services.accounts``, starts the app (``wsgi:app``)
   under ``gunicorn -w 1 -k sync --timeout 600`` on a loopback port (one worker, so
   its memory is the process's), logs in once, and times ``--requests`` rounds of
   every scenario below, round-robin (so noise spreads over all of them), after
   ``--warmup`` rounds: entries first page; 50 pages deep by following the "older"
   cursor; a cursor 90 % of the way back; outcome + 30-day range + a deep cursor;
   phone; code; the dashboard; both message tabs; the FAILED filter; a farmer's page;
4. streams the CSV export of every entry, counting rows and bytes, while sampling
   the worker's ``VmRSS`` every 20 ms; its ``VmHWM`` (peak resident set) is read
   before and after.

It prints p50/p95/max per scenario and PASS/FAIL against the targets (entry pages
p95 < 150 ms; CSV export peak RSS < 200 MB) and writes everything to
``bench/results/console-<timestamp>.json`` (gitignored). Exit status: 0 when every
target is met, 1 when one is missed, 2 when the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
    describe_run,
    exit_on_sigterm,
    log,
    memory_kb,
    migrated_database,
    selected_backends,
    server_env,
    start_run,
    verdict,
)

TARGET_PAGE_P95_MS = 150.0
TARGET_CSV_PEAK_MB = 200.0
ENTRY_PAGES = ("entries first page", "entries 50 pages deep", "entries cursor 90% back",
               "entries outcome+range+deep cursor", "entries by phone", "entries by code")
PARTICIPANTS = 200_000
CAMPAIGN_DAYS = 60
CHUNK = 10_000
EMAIL = "bench@roko.test"
PASSWORD = "bench-password-123"

# Outcome mix of a running campaign (weights).
OUTCOMES = [("VALID_FIRST", 15), ("VALID_AGAIN", 45), ("DUPLICATE", 8), ("ALREADY_USED", 2), ("INVALID_CODE", 15),
            ("BAD_FORMAT", 10), ("CAMPAIGN_CLOSED", 1), ("CAMPAIGN_NOT_STARTED", 1), ("BLOCKED", 2), ("OPT_OUT", 1)]
CODE_OUTCOMES = {"VALID_FIRST", "VALID_AGAIN", "DUPLICATE", "ALREADY_USED", "INVALID_CODE"}
REPLY = "Merci ! Votre code ROKO est valide. Vous avez maintenant 3 chances pour le tirage."


# --------------------------------------------------------------------------- data


def rows(total: int, now: datetime, seed: int = 7) -> Iterator[tuple[int, datetime, str, str, str | None, int]]:
    """(id, created_at, msisdn, outcome, code, chances) for ids 1..total, oldest first."""
    rnd = random.Random(seed)
    names = [name for name, _ in OUTCOMES]
    weights = [weight for _, weight in OUTCOMES]
    start = now - timedelta(days=CAMPAIGN_DAYS)
    step = (now - timedelta(seconds=5) - start) / total
    for i in range(1, total + 1):
        outcome = rnd.choices(names, weights)[0]
        code = f"U{rnd.randrange(10**8):08d}" if outcome in CODE_OUTCOMES else None
        at = start + step * i + timedelta(microseconds=rnd.randrange(1000))
        yield i, at, f"6{20000000 + rnd.randrange(PARTICIPANTS):08d}", outcome, code, rnd.randrange(12)


def outbound_status(i: int, total: int) -> str:
    if i > total - 50:
        return "QUEUED"
    return "FAILED" if i % 200 == 0 else "SENT"


def load(database_url: str, total: int, now: datetime) -> dict[str, Any]:
    started = time.monotonic()
    if database_url.startswith("sqlite"):
        _load_sqlite(database_url.removeprefix("sqlite:///"), total, now)
    else:
        _load_postgres(database_url, total, now)
    return {"entries": total, "seconds": round(time.monotonic() - started, 1)}


def _sqlite_time(value: datetime) -> str:
    """SQLAlchemy's storage format for a naive-UTC DATETIME on SQLite."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _chunks(iterable: Iterator[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load_sqlite(path: str, total: int, now: datetime) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    first_seen = _sqlite_time(now - timedelta(days=CAMPAIGN_DAYS))
    conn.executemany("INSERT INTO participant (id, msisdn, first_seen_at, valid_entries) VALUES (?, ?, ?, ?)",
                     ((n + 1, f"6{20000000 + n:08d}", first_seen, n % 7) for n in range(PARTICIPANTS)))
    for chunk in _chunks(rows(total, now)):
        conn.executemany(
            "INSERT INTO inbound_sms (id, gateway_sms_id, port, sender, sender_msisdn, text, gateway_timestamp,"
            " received_at, source) VALUES (?, ?, 17, ?, ?, ?, ?, ?, 'topaz')",
            [(i, i, m, m, f"ROKO {c or 'bonjour'}", _sqlite_time(at), _sqlite_time(at)) for i, at, m, _, c, _ in chunk])
        conn.executemany(
            "INSERT INTO entry (id, sms_id, participant_id, msisdn, outcome, code, chances, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(i, i, int(m) - 620000000 + 1, m, o, c, ch, _sqlite_time(at)) for i, at, m, o, c, ch in chunk])
        conn.executemany(
            "INSERT INTO outbound_sms (id, to_msisdn, text, encoding, units, status, priority, port, template_key,"
            " caller, attempts, last_error, next_attempt_at, reply_to_sms_id, created_at, updated_at, sent_at)"
            " VALUES (?, ?, ?, 'GSM-7', 80, ?, 10, 17, ?, 'auto-reply', ?, ?, ?, ?, ?, ?, ?)",
            [(i, m, REPLY, s, o, 5 if s == "FAILED" else int(s == "SENT"),
              "gave up after 5 attempts: timeout" if s == "FAILED" else None, _sqlite_time(at), i,
              _sqlite_time(at + timedelta(milliseconds=30)), _sqlite_time(at + timedelta(seconds=1)),
              _sqlite_time(at + timedelta(seconds=1)) if s == "SENT" else None)
             for i, at, m, o, _, _ in chunk for s in (outbound_status(i, total),)])
        conn.commit()
    conn.close()


def _load_postgres(url: str, total: int, now: datetime) -> None:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=False) as conn:
        first_seen = now - timedelta(days=CAMPAIGN_DAYS)
        with conn.cursor() as cur:
            with cur.copy("COPY participant (id, msisdn, first_seen_at, valid_entries) FROM STDIN") as copy:
                for n in range(PARTICIPANTS):
                    copy.write_row((n + 1, f"6{20000000 + n:08d}", first_seen, n % 7))
            with cur.copy("COPY inbound_sms (id, gateway_sms_id, port, sender, sender_msisdn, text, gateway_timestamp,"
                          " received_at, source) FROM STDIN") as copy:
                for i, at, m, _, c, _ in rows(total, now):
                    copy.write_row((i, i, 17, m, m, f"ROKO {c or 'bonjour'}", at, at, "topaz"))
            with cur.copy("COPY entry (id, sms_id, participant_id, msisdn, outcome, code, chances, created_at)"
                          " FROM STDIN") as copy:
                for i, at, m, o, c, ch in rows(total, now):
                    copy.write_row((i, i, int(m) - 620000000 + 1, m, o, c, ch, at))
            with cur.copy("COPY outbound_sms (id, to_msisdn, text, encoding, units, status, priority, port,"
                          " template_key, caller, attempts, last_error, next_attempt_at, reply_to_sms_id, created_at,"
                          " updated_at, sent_at) FROM STDIN") as copy:
                for i, at, m, o, _, _ in rows(total, now):
                    s = outbound_status(i, total)
                    copy.write_row((i, m, REPLY, "GSM-7", 80, s, 10, 17, o, "auto-reply",
                                    5 if s == "FAILED" else int(s == "SENT"),
                                    "gave up after 5 attempts: timeout" if s == "FAILED" else None, at, i,
                                    at + timedelta(milliseconds=30), at + timedelta(seconds=1),
                                    at + timedelta(seconds=1) if s == "SENT" else None))
            for table in ("participant", "inbound_sms", "entry", "outbound_sms"):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


# --------------------------------------------------------------------------- in-process: plans, queries, user


def make_app(database_url: str) -> Any:
    from roko_app import create_app

    return create_app({"ENV": "test", "DATABASE_URL": database_url, "SECRET_KEY": "bench",
                       "WEBHOOK_INBOUND_TOKEN": "bench", "LOG_LEVEL": "WARNING"})


def in_process(database_url: str, total: int) -> dict[str, Any]:
    """Plans of the entry queries, timings of the dashboard's aggregates, the bench user,
    and the cursors the HTTP scenarios use."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select, text

    from roko_app.extensions import db
    from roko_app.models import Entry
    from roko_app.reads.dashboard import DayCounts, dashboard_stats
    from roko_app.reads.entries import EntryFilters
    from roko_app.reads.pager import Cursor, older_than
    from roko_app.services import accounts

    app = make_app(database_url)
    out: dict[str, Any] = {"plans": {}, "queries_ms": {}}
    with app.app_context():
        accounts.create_user(EMAIL, "operator", PASSWORD)
        db.session.commit()
        far = db.session.execute(select(Entry.created_at, Entry.id).where(Entry.id == max(1, total // 10))).one()
        valid_again = db.session.execute(
            select(Entry.created_at, Entry.id).where(Entry.outcome == "VALID_AGAIN", Entry.id <= total // 3)
            .order_by(Entry.id.desc()).limit(1)).one()
        sample = db.session.execute(select(Entry.msisdn, Entry.code).where(Entry.id == total // 2)).one()
        code = sample.code or db.session.scalar(select(Entry.code).where(Entry.code.is_not(None)).limit(1))
        out["far_cursor"] = Cursor(far.created_at, far.id).encode()
        out["valid_again_cursor"] = Cursor(valid_again.created_at, valid_again.id).encode()
        out["range"] = ((valid_again.created_at - timedelta(days=20)).date().isoformat(),
                        (valid_again.created_at + timedelta(days=10)).date().isoformat())
        out["phone"], out["code"] = sample.msisdn, code

        def keyset(cursor: Cursor) -> Any:
            return older_than(Entry.created_at, Entry.id, cursor)

        far_cursor = Cursor(far.created_at, far.id)
        deep = Cursor(valid_again.created_at, valid_again.id)
        filtered = EntryFilters(outcome="VALID_AGAIN", date_from=datetime.fromisoformat(out["range"][0]).date(),
                                date_to=datetime.fromisoformat(out["range"][1]).date())
        statements = {
            "entries first page": select(Entry.id).order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51),
            "entries cursor 90% back": select(Entry.id).where(keyset(far_cursor))
            .order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51),
            # as the read model runs it: the cursor replaces the "to" bound (EntryFilters.narrowed)
            "entries outcome+range+deep cursor": select(Entry.id)
            .where(*filtered.narrowed(deep).conditions(), keyset(deep))
            .order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51),
            "entries by phone": select(Entry.id).where(*EntryFilters(phone=out["phone"]).conditions())
            .order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51),
            "entries by code": select(Entry.id).where(*EntryFilters(code=code).conditions())
            .order_by(Entry.created_at.desc(), Entry.id.desc()).limit(51),
            "campaign by outcome": select(Entry.outcome, func.count()).group_by(Entry.outcome),
        }
        sqlite = db.engine.dialect.name == "sqlite"
        for name, statement in statements.items():
            sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
            if sqlite:
                found = [str(row[-1]) for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            else:
                found = [row[0] for row in db.session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))]
            out["plans"][name] = found
        cache = DayCounts()
        aggregates: dict[str, Callable[[], Any]] = {
            "campaign by outcome (one GROUP BY over all entries)": lambda: db.session.execute(
                select(Entry.outcome, func.count()).group_by(Entry.outcome)).all(),
            "dashboard service, no cache (a process's first view)": lambda: dashboard_stats(),
            "dashboard service, settled days cached": lambda: dashboard_stats(cache=cache),
        }
        for name, run in aggregates.items():
            run()
            times = []
            for _ in range(15):
                started = time.perf_counter()
                run()
                times.append((time.perf_counter() - started) * 1000)
            out["queries_ms"][name] = {"p50": round(statistics.median(times), 1), "max": round(max(times), 1)}
        db.session.rollback()
        db.engine.dispose()
    return out


# --------------------------------------------------------------------------- HTTP


def http_session(base: str) -> Any:
    import requests

    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy
    page = session.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if token is None:
        raise BenchError("no CSRF token on /login")
    response = session.post(base + "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
                            allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise BenchError(f"log-in failed: {response.status_code}")
    return session


def older_link(html: str) -> str | None:
    match = re.search(r'<a href="([^"]+)" rel="next"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def scenarios(base: str, session: Any, prepared: dict[str, Any], deep_pages: int) -> dict[str, str]:
    url = "/console/entries"
    for _ in range(deep_pages):
        html = session.get(base + url, timeout=60).text
        url = older_link(html) or url
    start, end = prepared["range"]
    return {
        "entries first page": "/console/entries",
        "entries 50 pages deep": url,
        "entries cursor 90% back": f"/console/entries?before={prepared['far_cursor']}",
        "entries outcome+range+deep cursor":
            f"/console/entries?outcome=VALID_AGAIN&from={start}&to={end}&before={prepared['valid_again_cursor']}",
        "entries by phone": f"/console/entries?phone={prepared['phone']}",
        "entries by code": f"/console/entries?code={prepared['code']}",
        "dashboard": "/console/",
        "messages inbound": "/console/messages",
        "messages outbound": "/console/messages?dir=out",
        "messages outbound FAILED": "/console/messages?dir=out&status=FAILED",
        "farmer page": f"/console/farmers/{prepared['phone']}",
    }


def time_pages(base: str, session: Any, pages: dict[str, str], requests_: int, warmup: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    for round_ in range(warmup + requests_):
        for name, path in pages.items():
            started = time.perf_counter()
            response = session.get(base + path, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise BenchError(f"{name}: {path} answered {response.status_code}")
            sizes[name] = len(response.content)
            if round_ >= warmup:
                samples[name].append(elapsed)
    return {name: {"path": pages[name], "p50_ms": round(statistics.median(values), 1),
                   "p95_ms": round(percentile(values, 95), 1), "max_ms": round(max(values), 1),
                   "requests": len(values), "bytes": sizes[name]} for name, values in samples.items()}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))  # nearest rank
    return ordered[index]


def stream_csv(base: str, session: Any, pid: int, total: int) -> dict[str, Any]:
    before = memory_kb(pid)
    peak_sampled = before["VmRSS"]
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_sampled
        while not done.is_set():
            with contextlib.suppress(OSError, KeyError):
                peak_sampled = max(peak_sampled, memory_kb(pid)["VmRSS"])
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    first_byte = None
    lines = size = 0
    with session.get(base + "/console/entries.csv", stream=True, timeout=600) as response:
        if response.status_code != 200:
            raise BenchError(f"CSV export answered {response.status_code}")
        for chunk in response.iter_content(chunk_size=64 * 1024):
            if first_byte is None:
                first_byte = time.perf_counter() - started
            size += len(chunk)
            lines += chunk.count(b"\n")  # not b"\r\n": a chunk may end between the two
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = memory_kb(pid)
    return {"rows": lines - 1, "expected_rows": total, "bytes": size, "seconds": round(seconds, 1),
            "first_byte_ms": round((first_byte or 0) * 1000, 1), "rows_per_s": round((lines - 1) / seconds),
            "rss_before_mb": round(before["VmRSS"] / 1024, 1), "hwm_before_mb": round(before["VmHWM"] / 1024, 1),
            "rss_peak_sampled_mb": round(peak_sampled / 1024, 1), "hwm_after_mb": round(after["VmHWM"] / 1024, 1),
            "rss_after_mb": round(after["VmRSS"] / 1024, 1)}


# --------------------------------------------------------------------------- one backend


def bench_backend(backend: str, database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    log(f"\n== {backend}")
    now = datetime.now(UTC)
    log(f"loading {args.entries:,} entries (+ inbound SMS, replies, {PARTICIPANTS:,} participants) ...")
    loaded = load(database_url, args.entries, now)
    log(f"loaded in {loaded['seconds']} s")
    if database_url.startswith("sqlite"):
        loaded["file_mb"] = round(Path(database_url.removeprefix("sqlite:///")).stat().st_size / 2**20)
    prepared = in_process(database_url, args.entries)
    for name, plan in prepared["plans"].items():
        shown = plan if backend == "sqlite" else [line.strip() for line in plan if "Scan" in line or "Time:" in line]
        log(f"plan {name}: {' | '.join(shown)}")
    for name, timing in prepared["queries_ms"].items():
        log(f"in-process {name}: p50 {timing['p50']} ms, max {timing['max']} ms")
    env = server_env(ROKO_ENV="test", ROKO_DATABASE_URL=database_url, ROKO_SECRET_KEY="bench-secret",
                     ROKO_WEBHOOK_INBOUND_TOKEN="bench", ROKO_LOG_LEVEL="WARNING",
                     GUNICORN_CMD_ARGS="--timeout 600")
    server = Server(f"{backend}-console", "wsgi:app", env, logs / f"{backend}-console.log", workers=1)
    server.start()
    try:
        base = server.base_url
        session = http_session(base)
        pages = scenarios(base, session, prepared, args.deep_pages)
        log(f"timing {len(pages)} pages x {args.requests} requests (round-robin, after {args.warmup} warm-up rounds) ...")
        timings = time_pages(base, session, pages, args.requests, args.warmup)
        (worker,) = server.worker_pids()
        log("streaming the CSV export of every entry ...")
        export = stream_csv(base, session, worker, args.entries)
    finally:
        server.stop()
    summary = {
        "pages_p95_pass": all(timings[name]["p95_ms"] < TARGET_PAGE_P95_MS for name in ENTRY_PAGES),
        "csv_peak_pass": export["hwm_after_mb"] < TARGET_CSV_PEAK_MB and export["rows"] == args.entries,
    }
    return {"backend": backend, "database": database_version(database_url), "loaded": loaded, "prepared": prepared,
            "pages": timings, "csv": export, "summary": summary}


def database_version(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return f"PostgreSQL {conn.execute('SHOW server_version').fetchone()[0]}"  # type: ignore[index]


def print_table(result: dict[str, Any]) -> None:
    log(f"\n{result['backend']} ({result['database']}), {result['loaded']['entries']:,} entries, "
        "gunicorn -w 1 -k sync, one client")
    log(f"  {'page':<36}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'KiB':>7}")
    for name, t in result["pages"].items():
        mark = ("  PASS" if t["p95_ms"] < TARGET_PAGE_P95_MS else "  FAIL") if name in ENTRY_PAGES else ""
        log(f"  {name:<36}{t['p50_ms']:>9.1f}{t['p95_ms']:>9.1f}{t['max_ms']:>9.1f}{t['bytes'] / 1024:>7.0f}{mark}")
    c = result["csv"]
    log(f"  CSV export: {c['rows']:,} rows, {c['bytes'] / 2**20:.0f} MiB in {c['seconds']} s ({c['rows_per_s']:,} rows/s, "
        f"first byte {c['first_byte_ms']} ms); worker RSS {c['rss_before_mb']} MB before, peak sampled "
        f"{c['rss_peak_sampled_mb']} MB, VmHWM {c['hwm_before_mb']} -> {c['hwm_after_mb']} MB "
        f"(target < {TARGET_CSV_PEAK_MB:g} MB) {'PASS' if result['summary']['csv_peak_pass'] else 'FAIL'}")
    for name, timing in result["prepared"]["queries_ms"].items():
        log(f"  in-process {name}: p50 {timing['p50']} ms")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed rounds first (default 10)")
    parser.add_argument("--deep-pages", type=int, default=50, help="pages followed for the deep page (default 50)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if args.entries < 1000 or args.requests < 1:
        parser.error("--entries must be >= 1000 and --requests >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    started, stamp, logs, command = start_run("console", argv)
    info = describe_run(command)
    results: list[dict[str, Any]] = []
    failure = None
    try:
        for backend in (selected_backends(args.backend)):
            with migrated_database(backend, args.pg_url) as database_url:
                results.append(bench_backend(backend, database_url, args, logs))
    except (BenchError, subprocess.SubprocessError, OSError) as exc:
        failure = f"{type(exc).__name__}: {exc}"
        log(f"ERROR: {failure}")
    for result in results:
        print_table(result)
    met = bool(results) and failure is None and all(all(r["summary"].values()) for r in results)
    info["loadavg_end"] = os.getloadavg()
    out = RESULTS / f"console-{stamp}.json"
    out.write_text(json.dumps({"command": command, "started": started.isoformat(timespec="seconds"),
                               "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
                               "settings": vars(args), "results": results, "failure": failure,
                               "all_targets_met": met}, indent=2, default=str))
    for path in logs.glob("*.log"):
        if not path.read_text(errors="replace").strip():
            path.unlink()
    with contextlib.suppress(OSError):
        logs.rmdir()
    log(f"\nresults: {out.relative_to(ROOT)}")
    if failure is not None:
        return 2
    return verdict(met)


if __name__ == "__main__":
    sys.exit(main())
