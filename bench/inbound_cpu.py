"""In-process cost of one inbound SMS: the webhook called as a WSGI app, no HTTP server.

    .venv/bin/python bench/inbound_cpu.py [--backend sqlite|postgresql] [--count 2000]
        [--rounds 3] [--mode full|insert-only|no-db|bare] [--profile]

Complements ``bench/inbound.py`` (gunicorn + wrk): it takes gunicorn, sockets and the
load tool out of the picture, so the CPU that the request itself costs can be compared
between versions of the code, and split up with ``--mode``:

* ``full``: the real request (store, classify, queue the reply, commit);
* ``insert-only``: only ``inbound.record`` (the SMS row and the commit, no draw);
* ``no-db``: the service is replaced by a constant result (Flask, the app's hooks,
  the token check, JSON parsing and validation: the framework's share);
* ``bare``: ``bench/bare_app.py``, the baseline of the gunicorn benchmark.

Each request is a unique SMS from a new sender with an unregistered code, like the
gunicorn benchmark. Reported per request: the process's CPU (user + system) and wall
time, and on PostgreSQL also the CPU of the server backend that served the requests
(``/proc/<pid>/stat`` of ``pg_backend_pid()``), i.e. the database's share. Runs on a
fresh database built by the real migrations and removed at the end: a SQLite file in a
temporary folder, or a ``roko_bench_<random>`` PostgreSQL database created through
``--pg-url`` (a loopback server). ``--profile`` prints cProfile's top functions instead.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from typing import Any

from common import DEFAULT_PG_URL, ROOT, migrated_database, process_cpu

TOKEN = "bench-inbound-cpu"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--count", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=["full", "insert-only", "no-db", "bare"], default="full")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()

    with migrated_database(args.backend, args.pg_url) as url:
        os.environ.update(ROKO_ENV="dev", ROKO_DATABASE_URL=url, ROKO_WEBHOOK_INBOUND_TOKEN=TOKEN,
                          ROKO_LOG_LEVEL="WARNING")
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text

    from roko_app import create_app
    from roko_app.extensions import db
    from roko_app.services import inbound

    if args.mode == "no-db":
        inbound.receive = lambda incoming, ports, draw: inbound.RecordResult(1, True)  # type: ignore[assignment]
    elif args.mode == "insert-only":
        record = inbound.record
        inbound.receive = lambda incoming, ports, draw: record(incoming, ports)  # type: ignore[assignment]
    if args.mode == "bare":
        sys.path.insert(0, str(ROOT / "bench"))
        from bare_app import app
    else:
        app = create_app()
    run(app, range(0, 200))  # warm-up: caches, prepared statements, the pool
    backend_pid = None
    if args.backend == "postgresql" and args.mode != "bare":
        with app.app_context():  # the pool's only connection, reused by every request
            backend_pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
            db.session.commit()
    start = 200
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        run(app, range(start, start + args.count))
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        return 0
    rounds = []
    for _ in range(args.rounds):
        server_before = process_cpu([backend_pid]) if backend_pid else 0.0
        cpu, wall = run(app, range(start, start + args.count))
        server = (process_cpu([backend_pid]) - server_before) / args.count * 1000 if backend_pid else None
        rounds.append({"cpu_ms": cpu, "wall_ms": wall, "server_cpu_ms": server})
        start += args.count
    fields = ["cpu_ms", "wall_ms"] + (["server_cpu_ms"] if backend_pid else [])
    print(f"{args.backend} {args.mode}: {args.count} requests x {args.rounds} rounds, per request (median; rounds)")
    for field in fields:
        values = [r[field] for r in rounds]
        print(f"  {field:14s} {sorted(values)[len(values) // 2]:.3f}  ({', '.join(f'{v:.3f}' for v in values)})")
    return 0


def run(app: Any, ids: range) -> tuple[float, float]:
    """POST one SMS per id; the process's CPU and wall ms per request."""
    environs = [_environ(i) for i in ids]
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    wall, cpu = time.perf_counter(), time.process_time()
    for environ in environs:
        b"".join(app(environ, start_response))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if not all(status.startswith("200") for status in statuses):
        raise SystemExit(f"unexpected responses: {sorted(set(statuses))}")
    return cpu / len(ids) * 1000, wall / len(ids) * 1000


def _environ(i: int) -> dict[str, Any]:
    body = json.dumps({"gateway_sms_id": 10_000_000 + i, "port": 17, "sender": f"6{i:08d}",
                       "text": f"ROKO U{i * 7919 % 10**8:08d}", "timestamp": "2026-11-22T10:00:00Z"}).encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/webhooks/topaz/inbound", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
            "HTTP_X_ROKO_WEBHOOK_TOKEN": TOKEN, "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr}


if __name__ == "__main__":
    sys.exit(main())
