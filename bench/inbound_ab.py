#!/usr/bin/env python3
"""Two checkouts of the app side by side: the CPU of one inbound SMS under gunicorn.

    cd /work/main && .venv/bin/python bench/inbound_ab.py --tree before=/tmp/roko-before --tree after=.
        [--backend sqlite|postgresql|both] [--count 1500] [--rounds 5]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Compares versions of the code, where ``bench/inbound.py`` compares the app with bare
Flask. Make the other checkout with ``git worktree add /tmp/roko-before <commit>`` (it
needs its compiled translations: ``make -C /tmp/roko-before .venv/.project`` or copy
``roko_app/translations``). For each backend: one database (migrated by this checkout:
the trees must share the schema), each tree's ``wsgi:app`` and ``bench/bare_app.py``
under ``gunicorn -w 1 -k sync`` with ``ROKO_LOG_LEVEL=WARNING``, all started at once;
then ``--rounds`` rounds in which each server, in an order that rotates, gets 100
warm-up requests and ``--count`` distinct inbound SMS sent one at a time on a new
connection each (no concurrency: no lock waits, only the work of one request). Reported
per server: the worker's CPU (user + system, ``/proc``) per request, median over
rounds, and bare's CPU over each tree's, so a slower machine slows them alike. Every
answer must be 200.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
from pathlib import Path

from common import (
    BENCH,
    DEFAULT_PG_URL,
    HOST,
    BenchError,
    Server,
    argument_parser,
    exit_on_sigterm,
    log,
    median,
    migrated_database,
    process_cpu,
    selected_backends,
    server_env,
    start_run,
)

TOKEN = "bench-inbound-ab"  # noqa: S105 (a benchmark's own token)
WARMUP = 100
PATH = "/api/v1/webhooks/topaz/inbound"


def post(port: int, sms_id: int) -> int:
    body = json.dumps({"gateway_sms_id": sms_id, "port": 3, "sender": f"6{sms_id % 10**8:08d}",
                       "text": "ROKO U12345678", "timestamp": "2026-11-26T10:00:00Z"})
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("POST", PATH, body, {"Content-Type": "application/json", "X-Roko-Webhook-Token": TOKEN})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def compare(backend: str, trees: dict[str, Path], args: argparse.Namespace, logs: Path) -> dict[str, float]:
    with migrated_database(backend, args.pg_url) as url:
        env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=url, ROKO_WEBHOOK_INBOUND_TOKEN=TOKEN,
                         ROKO_LOG_LEVEL="WARNING")
        servers = [Server(name, "wsgi:app", env, logs / f"ab-{backend}-{name}.log", chdir=tree, workers=1)
                   for name, tree in trees.items()]
        servers.append(Server("bare", "bare_app:app", server_env(), logs / f"ab-{backend}-bare.log", chdir=BENCH,
                              workers=1))
        cpu: dict[str, list[float]] = {server.name: [] for server in servers}
        next_id = 1
        try:
            for server in servers:
                server.start()
            for number in range(args.rounds):
                shift = number % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    for _ in range(WARMUP):
                        post(server.port, next_id)
                        next_id += 1
                    pids = server.worker_pids()
                    before = process_cpu(pids)
                    codes = set()
                    for _ in range(args.count):
                        codes.add(post(server.port, next_id))
                        next_id += 1
                    cpu[server.name].append(1000 * (process_cpu(pids) - before) / args.count)
                    if codes != {200}:
                        raise BenchError(f"{server.name} answered {sorted(codes)}; see {server.log_path}")
                    log(f"  round {number + 1} {backend:<10} {server.name:<10} {cpu[server.name][-1]:.3f} ms CPU/request")
        finally:
            for server in servers:
                server.stop()
    medians = {name: median(values) for name, values in cpu.items()}
    for name, value in medians.items():
        ratio = "" if name == "bare" else f"  bare/{name} by CPU {medians['bare'] / value:.3f}"
        log(f"{backend:<10} {name:<10} median {value:.3f} ms CPU/request{ratio}")
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument("--tree", action="append", required=True, metavar="NAME=PATH",
                        help="a checkout to serve (give two or more)")
    parser.add_argument("--count", type=int, default=1500, help="requests per server per round (1500)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    trees: dict[str, Path] = {}
    for spec in args.tree:
        name, _, path = spec.partition("=")
        tree = Path(path).resolve()
        if not name or name == "bare" or not (tree / "wsgi.py").is_file():
            parser.error(f"--tree {spec}: NAME=PATH of a checkout with wsgi.py (NAME not 'bare')")
        trees[name] = tree
    if args.count < 1 or args.rounds < 1:
        parser.error("--count and --rounds must be positive")
    exit_on_sigterm()
    _started, _stamp, logs, command = start_run("inbound_ab", argv)
    log(command)
    for backend in selected_backends(args.backend):
        compare(backend, trees, args, logs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
