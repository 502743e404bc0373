"""In-process cost of one inbound SMS: the webhook called as a WSGI app, no HTTP server.

    .venv/bin/python bench/inbound_cpu.py [--backend sqlite|postgresql|both] [--count 2000]
        [--rounds 5] [--modes store,no-db,bare] [--profile store]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Complements ``bench/inbound.py`` (gunicorn + wrk): it takes gunicorn, sockets and the
load tool out of the picture, so the CPU that the request itself costs can be compared
between versions of the code and split up. The modes, measured in the same process and
interleaved round by round (the order rotates), so a busy machine slows them alike:

* ``store``: the real request (token check, JSON, validation, ``inbound.record``: the
  insert and, on PostgreSQL, ``pg_notify``; the commit);
* ``no-db``: ``inbound.record`` replaced by a constant result and no commit (Flask, the
  app's hooks, the token check, JSON parsing and validation: the framework's share);
* ``bare``: ``bench/bare_app.py``, the baseline of the gunicorn benchmark.

Each request is a unique SMS from a new sender. Reported per request, median over
rounds: the process's CPU (user + system) and wall time, and on PostgreSQL also the CPU
of the server backend that served the requests (``/proc/<pid>/stat`` of
``pg_backend_pid()``), i.e. the database's share. Runs on a fresh database built by the
real migrations and removed at the end: a SQLite file in a temporary folder, or a
``roko_bench_<random>`` PostgreSQL database created through ``--pg-url`` (a loopback
server). ``--profile MODE`` prints cProfile's top functions for that mode instead.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from common import (
    DEFAULT_PG_URL,
    ROOT,
    argument_parser,
    loadavg,
    log,
    median,
    migrated_database,
    process_cpu,
    server_env,
)

TOKEN = "bench-inbound-cpu"  # noqa: S105 (a benchmark's own token)
MODES = ("store", "no-db", "bare")
WARMUP = 200


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--count", type=int, default=2000, help="requests per mode per round (2000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--profile", choices=MODES, help="print cProfile's top functions for this mode instead")
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative"),
                        help="order of --profile's table (tottime)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - set(MODES):
        parser.error(f"--modes: choose among {', '.join(MODES)}")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        # Each backend in a process of its own: the app reads its database from the environment once.
        if len(backends) > 1:
            code = subprocess.run([sys.executable, __file__, "--backend", backend, "--count", str(args.count),
                                   "--rounds", str(args.rounds), "--modes", ",".join(modes), "--pg-url", args.pg_url],
                                  check=False).returncode
            if code:
                return code
            continue
        with migrated_database(backend, args.pg_url) as url:
            os.environ.clear()
            os.environ.update(server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=url, ROKO_WEBHOOK_INBOUND_TOKEN=TOKEN,
                                         ROKO_LOG_LEVEL="WARNING"))
            return measure(backend, modes, args)
    return 0


def measure(backend: str, modes: list[str], args: Any) -> int:
    from sqlalchemy import text

    from roko_app import create_app
    from roko_app.extensions import db
    from roko_app.services import inbound

    sys.path.insert(0, str(ROOT / "bench"))
    from bare_app import app as bare

    ours = create_app()
    record = inbound.record

    @contextlib.contextmanager
    def patched(mode: str) -> Iterator[Any]:
        if mode == "no-db":
            inbound.record = lambda incoming, ports: inbound.RecordResult(1, True)  # type: ignore[assignment]
        try:
            yield bare if mode == "bare" else ours
        finally:
            inbound.record = record  # type: ignore[assignment]

    ids = iter(range(10**9))
    for mode in modes:  # warm-up: imports, caches, prepared statements, the pool
        with patched(mode) as app:
            run(app, [next(ids) for _ in range(WARMUP)])
    backend_pid = None
    if backend == "postgresql":
        with ours.app_context():  # the pool's only connection, reused by every request
            backend_pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
            db.session.commit()
    if args.profile:
        profile = cProfile.Profile()
        with patched(args.profile) as app:
            batch = [next(ids) for _ in range(args.count)]
            profile.enable()
            run(app, batch)
            profile.disable()
        pstats.Stats(profile).sort_stats(args.sort).print_stats(45)
        return 0
    rounds: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    log(f"{backend}: {args.count} requests per mode x {args.rounds} rounds; load {loadavg():.2f}")
    for number in range(args.rounds):
        order = modes[number % len(modes):] + modes[:number % len(modes)]
        for mode in order:
            with patched(mode) as app:
                server_before = process_cpu([backend_pid]) if backend_pid else 0.0
                cpu, wall = run(app, [next(ids) for _ in range(args.count)])
                server = (process_cpu([backend_pid]) - server_before) / args.count * 1000 if backend_pid else None
            rounds[mode].append({"cpu_ms": cpu, "wall_ms": wall, "server_cpu_ms": server or 0.0,
                                 "load": loadavg()})
            log(f"  round {number + 1} {mode:<6} cpu {cpu:.3f} ms  wall {wall:.3f} ms"
                + (f"  server {server:.3f} ms" if server is not None else "") + f"  load {loadavg():.2f}")
    log(f"{backend}, per request, median of {args.rounds} rounds:")
    log(f"  {'mode':<8}{'CPU ms':>10}{'wall ms':>10}" + (f"{'db CPU ms':>12}" if backend_pid else ""))
    for mode in modes:
        values = rounds[mode]
        log(f"  {mode:<8}{median([r['cpu_ms'] for r in values]):>10.3f}{median([r['wall_ms'] for r in values]):>10.3f}"
            + (f"{median([r['server_cpu_ms'] for r in values]):>12.3f}" if backend_pid and mode != "bare" else ""))
    return 0


def run(app: Any, ids: list[int]) -> tuple[float, float]:
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
    body = json.dumps({"gateway_sms_id": 10_000_000 + i, "port": 17, "sender": f"6{i % 10**8:08d}",
                       "text": f"ROKO U{i * 7919 % 10**8:08d}", "timestamp": "2026-11-22T10:00:00Z"}).encode()
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/webhooks/topaz/inbound", "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
            "HTTP_X_ROKO_WEBHOOK_TOKEN": TOKEN, "REMOTE_ADDR": "127.0.0.1", "wsgi.errors": sys.stderr}


if __name__ == "__main__":
    sys.exit(main())
