#!/usr/bin/env python3
"""Benchmark of a lucky draw at campaign scale: close + run over 1,000,000 eligible
entries (200,000 participants), and the standard-library checker on its bundle.

    cd /work/main && .venv/bin/python bench/draw.py [--backend sqlite|postgresql|both]
        [--entries 1000000] [--participants 200000] [--seed 1]
        [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

For each backend it

1. makes a fresh database with the real migrations (SQLite: a temporary file;
   PostgreSQL: a ``roko_bench_<random>`` database through ``--pg-url``, dropped at the
   end, even on error) and loads, in bulk (Core ``executemany``), ``--participants``
   participants and ``--entries`` classified inbound SMS with their valid entries
   (``VALID_FIRST`` then ``VALID_AGAIN``), received over the last 20 days; every
   participant has at least one entry (PostgreSQL: ``VACUUM ANALYZE`` after the load);
2. in ONE new process (``bench/draw.py --child``, the app as the CLI builds it), creates
   a draw over that window (manual beacon; 11 prizes in two tiers, 20 alternates), then
   times ``services.draws.close_draw`` + commit and ``run_draw`` + commit, and reports
   the process's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after them,
   with its peak before the close (Python, the app and its imports) and, as a check,
   ``VmHWM`` (``/proc/self/status``); then writes the bundle
   (``services.draws.bundle_files``). The loading (step 1) runs in a process of its own
   too, so that the parent stays small: Linux counts a parent's RSS at the fork in its
   child's ``ru_maxrss``;
3. runs ``python3 -I verify_draw.py DIR`` (the bundle's own copy, standard library
   only) in a new process, timed, with its peak RSS; it must print ``OK``.

Targets (issue 11): close + run < 10 s with the process's peak RSS < 250 MB, on both
backends; verify < 30 s. Writes everything to ``bench/results/draw-<timestamp>.json``
(gitignored). Exit status: 0 when every target is met, 1 when one is missed, 2 when the
benchmark itself failed. Loopback only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_PG_URL,
    RESULTS,
    ROOT,
    BenchError,
    argument_parser,
    describe_run,
    exit_on_sigterm,
    have_sqlalchemy,
    log,
    migrated_database,
    selected_backends,
    server_env,
    server_version,
    start_run,
    verdict,
)

TARGET_CLOSE_RUN_S = 10.0
TARGET_PEAK_MB = 250.0
TARGET_VERIFY_S = 30.0
CHUNK = 20_000
WINDOW_DAYS = 20


def prepare(database_url: str, entries: int, participants: int, seed: int) -> dict[str, Any]:
    """Participants, inbound SMS and their valid entries, loaded in bulk; the window."""
    from sqlalchemy import create_engine, text

    from roko_app.models import Entry, InboundSms, Participant

    rng = random.Random(seed)
    owners = list(range(1, participants + 1))
    rng.shuffle(owners)
    owners += [rng.randint(1, participants) for _ in range(entries - participants)]
    until = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = until - timedelta(days=WINDOW_DAYS)
    step = (until - start) / (entries + 1)
    msisdn = {p: f"6{p:08d}" for p in range(1, participants + 1)}
    engine = create_engine(database_url)
    began = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(Participant.__table__.insert(), [
                {"id": p, "msisdn": msisdn[p], "first_seen_at": start, "valid_entries": 0}
                for p in range(1, participants + 1)])
            seen: dict[int, int] = {}
            for first in range(0, entries, CHUNK):
                sms, rows = [], []
                for i in range(first + 1, min(first + CHUNK, entries) + 1):
                    owner, at, code = owners[i - 1], start + step * i, f"U{i:08d}"
                    seen[owner] = seen.get(owner, 0) + 1
                    sms.append({"id": i, "gateway_sms_id": i, "port": 17, "sender": msisdn[owner],
                                "sender_msisdn": msisdn[owner], "text": f"ROKO {code}", "gateway_timestamp": at,
                                "received_at": at, "source": "topaz", "classified_at": at, "classify_attempts": 0})
                    rows.append({"id": i, "sms_id": i, "participant_id": owner, "msisdn": msisdn[owner],
                                 "outcome": "VALID_FIRST" if seen[owner] == 1 else "VALID_AGAIN", "code": code,
                                 "chances": seen[owner], "created_at": at})
                conn.execute(InboundSms.__table__.insert(), sms)
                conn.execute(Entry.__table__.insert(), rows)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in ("inbound_sms", "entry", "participant"):
                    conn.execute(text(f"VACUUM ANALYZE {table}"))
                    conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                      f"(SELECT max(id) FROM {table}))"))
    finally:
        engine.dispose()
    return {"load_s": round(time.perf_counter() - began, 1), "from": start.isoformat(), "until": until.isoformat()}


def hwm_mb() -> float:
    """This process's own peak RSS (``VmHWM``: per address space, so nothing inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_s() -> float:
    """CPU seconds of this process (user + system): the machine is shared."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(database_url: str, window_from: str, window_until: str, out: str) -> None:
    """Create, close, run (timed), then export the draw; prints one JSON line."""
    from roko_app import create_app
    from roko_app.extensions import db
    from roko_app.services import draws

    app = create_app({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        draw = draws.create_draw(name="Bench", window_from=datetime.fromisoformat(window_from),
                                 window_until=datetime.fromisoformat(window_until),
                                 prizes=[("Tricycle", 1), ("Sac de 50 kg", 10)], alternates=20,
                                 beacon=draws.parse_beacon("manual:bench"), actor="bench")
        db.session.commit()
        draw_id = draw.draw_id
        db.session.expunge_all()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        began, cpu_began = time.perf_counter(), cpu_s()
        closed = draws.close_draw(draw_id, actor="bench")
        counts = (closed.entries_count, closed.participants_count)
        db.session.commit()
        db.session.expunge_all()
        close_s, close_cpu = time.perf_counter() - began, cpu_s() - cpu_began
        began, cpu_began = time.perf_counter(), cpu_s()
        ran = draws.run_draw(draw_id, actor="bench", value="12 34 56 78")
        winners = sum(1 for p in ran.picks if p.drawn_tier is not None)
        db.session.commit()
        run_s, run_cpu = time.perf_counter() - began, cpu_s() - cpu_began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hwm = hwm_mb()
        db.session.expunge_all()
        began = time.perf_counter()
        for name, data in draws.bundle_files(draws.get_draw(draw_id)).items():
            (Path(out) / name).write_bytes(data)
        export_s = time.perf_counter() - began
    print(json.dumps({"draw_id": draw_id, "entries": counts[0], "participants": counts[1], "winners": winners,
                      "close_s": round(close_s, 2), "run_s": round(run_s, 2),
                      "close_run_s": round(close_s + run_s, 2), "close_cpu_s": round(close_cpu, 2),
                      "run_cpu_s": round(run_cpu, 2), "rss_before_close_mb": round(rss_before / 1024, 1),
                      "peak_rss_mb": round(peak / 1024, 1), "vmhwm_mb": hwm, "export_s": round(export_s, 2),
                      "peak_rss_after_export_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                                                        1)}))


VERIFY = ("import resource, runpy, sys, time, json\n"
          "began = time.perf_counter(); sys.argv = ['verify_draw.py', sys.argv[1]]; code = 0\n"
          "try:\n    runpy.run_path('verify_draw.py', run_name='__main__')\n"
          "except SystemExit as exc:\n    code = exc.code or 0\n"
          "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
          "print(json.dumps({'verify_s': round(time.perf_counter() - began, 2), 'exit': code,"
          " 'verify_peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),"
          " 'verify_vmhwm_mb': round(int(hwm) / 1024, 1)}))\n")


def in_process(*args: str, database_url: str) -> dict[str, Any]:
    """``bench/draw.py <args>`` in a new process; its last line, as JSON. (The parent
    stays small: Linux counts a parent's RSS at the fork in a child's ``ru_maxrss``.)"""
    env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=database_url, ROKO_LOG_LEVEL="WARNING")
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=3600, check=False)
    if result.returncode != 0:
        raise BenchError(f"bench/draw.py {args[0]} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def measure(database_url: str, window: dict[str, Any], folder: Path) -> dict[str, Any]:
    run = in_process("--child", database_url, window["from"], window["until"], str(folder),
                     database_url=database_url)
    checked = subprocess.run([sys.executable, "-I", "-c", VERIFY, "."], cwd=folder, capture_output=True, text=True,
                             timeout=600, check=False)
    lines = checked.stdout.strip().splitlines()
    verified = json.loads(lines[-1])
    if verified["exit"] != 0 or "OK" not in lines[:-1]:
        raise BenchError(f"verify_draw.py did not print OK: {checked.stdout[-2000:]}{checked.stderr[-2000:]}")
    return {**run, **verified}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--participants", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args(argv)
    if args.participants < 1 or args.entries < args.participants:
        parser.error("--participants must be at least 1 and at most --entries")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("draw"):
        return 2
    started, stamp, _logs, command = start_run("draw", argv)
    info = describe_run(command)
    backends = selected_backends(args.backend)
    runs: dict[str, Any] = {}
    failure = None
    try:
        for backend in backends:
            with migrated_database(backend, args.pg_url, "roko-draw-") as url, \
                    tempfile.TemporaryDirectory(prefix="roko-draw-bundle-") as folder:
                window = in_process("--prepare", url, str(args.entries), str(args.participants), str(args.seed),
                                    database_url=url)
                log(f"{backend}: loaded {args.entries} entries of {args.participants} participants in "
                    f"{window['load_s']} s; {server_version(url)}")
                run = {**measure(url, window, Path(folder)), "load_s": window["load_s"],
                       "database": server_version(url)}
                if (run["entries"], run["participants"]) != (args.entries, args.participants):
                    raise BenchError(f"the draw froze {run['entries']} entries of {run['participants']} participants")
                run["passed"] = (run["close_run_s"] < TARGET_CLOSE_RUN_S and run["peak_rss_mb"] < TARGET_PEAK_MB
                                 and run["verify_s"] < TARGET_VERIFY_S)
                runs[backend] = run
                log(f"  close {run['close_s']:.2f} s + run {run['run_s']:.2f} s = {run['close_run_s']:.2f} s "
                    f"(CPU {run['close_cpu_s']:.2f} + {run['run_cpu_s']:.2f} s) "
                    f"(< {TARGET_CLOSE_RUN_S:.0f}); peak RSS {run['peak_rss_mb']:.0f} MB (< {TARGET_PEAK_MB:.0f}; "
                    f"{run['rss_before_close_mb']:.0f} MB before the close); verify {run['verify_s']:.2f} s "
                    f"(< {TARGET_VERIFY_S:.0f}), its peak RSS {run['verify_peak_rss_mb']:.0f} MB; VmHWM "
                    f"{run['vmhwm_mb']:.0f} / {run['verify_vmhwm_mb']:.0f} MB; "
                    f"{'met' if run['passed'] else 'MISSED'}")
    except (BenchError, subprocess.TimeoutExpired) as exc:
        failure = str(exc)
        log(f"ERROR: {exc}")
    met = failure is None and bool(runs) and all(run["passed"] for run in runs.values())
    info["loadavg_end"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"draw-{stamp}.json"
    out.write_text(json.dumps({
        "command": command, "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info, "settings": vars(args),
        "targets": {"close_run_s": TARGET_CLOSE_RUN_S, "peak_rss_mb": TARGET_PEAK_MB, "verify_s": TARGET_VERIFY_S},
        "runs": runs, "failure": failure, "all_targets_met": met,
    }, indent=2, default=str))
    log(f"\nresults: {out.relative_to(ROOT)}")
    with contextlib.suppress(OSError):
        _logs.rmdir()  # nothing is logged to it
    if failure is not None or not runs:
        return 2
    return verdict(met)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        sys.exit(0)
    if len(sys.argv) == 6 and sys.argv[1] == "--prepare":
        print(json.dumps(prepare(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))))
        sys.exit(0)
    sys.exit(main())
