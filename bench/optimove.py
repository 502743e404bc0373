#!/usr/bin/env python3
"""Benchmark of ``POST /api/v1/webhooks/optimove/campaigns``: signed campaign batches end to end.

    cd /work/main && .venv/bin/python bench/optimove.py [--backend sqlite|postgresql|both]
        [--rounds 5] [--recipients 10000] [--big 100000] [--max-body 33554432] [--settle 5]
        [--seed 1] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Targets (the issue): a signed 10,000-recipient batch (about 1.5 MB) is accepted end to
end over HTTP in < 1.5 s on SQLite and on PostgreSQL, a replay of it in < 200 ms, and a
100,000-recipient batch is accepted with the web process's peak memory under 300 MB.

For each backend it

1. creates a fresh database (SQLite: a temporary file; PostgreSQL: a dedicated
   ``roko_bench_<random>`` database created through ``--pg-url`` and dropped at the
   end, even on error) and runs the real migrations (``flask --app wsgi db upgrade``);
2. starts the app (``wsgi:app``) under ``gunicorn -w 1 -k sync --timeout 600`` on a free
   loopback port with a per-run API key and HMAC secret, ``ROKO_LOG_LEVEL=WARNING``,
   ``ROKO_OPTIMOVE_RATE_LIMIT=10000/minute`` and ``ROKO_OPTIMOVE_MAX_BODY=--max-body``
   (the 100k body is about 16 MB, over the 10 MiB default: see the README);
3. checks a wrongly signed request is 401 and stores nothing, warms the worker up with a
   small batch, then runs ``--rounds`` rounds: each posts a *distinct* generated batch of
   ``--recipients`` recipients (built and signed beforehand, not timed) and then replays
   it byte for byte. Each request is timed from the connection to the last byte of the
   answer. After each request the script checks the status (200), ``accepted == N``,
   ``rejected == 0``, the answer's message, and counts in the database the batch's
   ``outbound_sms`` rows (== N, and unchanged by the replay), all ``outbound_sms`` rows
   (every batch so far) and ``campaign_batch`` rows;
4. memory: restarts gunicorn (one fresh worker), warms it up with a small batch, reads
   the worker's ``VmHWM`` (peak resident set) from ``/proc/<pid>/status`` as the
   baseline, posts one ``--big``-recipient batch, reads ``VmHWM`` again, then replays it
   (timed; ``VmHWM`` read once more).

Bodies look like Optimove's: Guinea numbers ``+22462xxxxxxx`` (and 61/65/66), distinct
within a batch; personalised French messages of about 56 to 97 characters, most with
GSM-7 accents (é è à ù) and one in ten with a character that forces UCS-2 (ç ê ô ’;
those are kept <= 70 characters so that every recipient fits one SMS and is accepted);
customer ids; the full metadata object; compact JSON sent as UTF-8
(``ensure_ascii=False``): about 160 bytes per recipient.

It prints the medians and every round, PASS/FAIL per target, and writes everything to
``bench/results/optimove-<timestamp>.json`` (gitignored). Besides wall time each request
records, from ``/proc/<pid>/task/*/schedstat``, the gunicorn worker's time on a CPU,
runnable but waiting for a CPU, and blocked; the same for the PostgreSQL backends of the
bench database; and how many cores everything else used: on a shared machine the wait
for a CPU is often most of the wall time. Before each timed request the script waits up
to ``--settle`` seconds for the machine to be quiet. Exit status: 0 when every target is met, 1 when one is
missed, 2 when the benchmark itself failed (including any correctness check).

Run it with the project's virtualenv; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_PG_URL,
    HOST,
    QUIET_CORES,
    RESULTS,
    ROOT,
    BenchError,
    argument_parser,
    code_version,
    exit_on_sigterm,
    free_port,
    have_sqlalchemy,
    log,
    machine,
    machine_cpu,
    median,
    memory_kb,
    migrated_database,
    server_env,
    server_version,
    spawn_gunicorn,
    start_run,
    stop_gunicorn,
    verdict,
    wait_for_healthz,
    wait_for_quiet,
)

PATH = "/api/v1/webhooks/optimove/campaigns"

TARGET_ACCEPT_S = 1.5
TARGET_REPLAY_S = 0.200
TARGET_PEAK_MB = 300.0
TARGET_RECIPIENTS = 10_000
TARGET_BIG = 100_000

DEFAULT_MAX_BODY = 32 * 1024 * 1024
RATE_LIMIT = "10000/minute"
REQUEST_TIMEOUT = 600.0
WARMUP_RECIPIENTS = 200

sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- bodies

FIRST_NAMES = ("Mamadou", "Fatoumata", "Aissatou", "Ibrahima", "Mariama", "Alpha", "Kadiatou", "Ousmane",
               "Mariam", "Sekou", "Hawa", "Thierno", "Binta", "Lansana", "Aminata", "Moussa", "Oumou",
               "Boubacar", "Nene", "Abdoulaye", "Djenabou", "Mohamed", "Saran", "Amadou")
TOWNS = ("Conakry", "Kindia", "Labé", "Kankan", "Boké", "Mamou", "Faranah", "Siguiri", "Nzérékoré", "Dabola")
DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi")
# GSM-7 only (é è à ù are in the GSM-7 alphabet): one SMS up to 160 characters.
GSM7_TEMPLATES = (
    "Bonjour {name}, votre engrais Nano ROKO est disponible chez votre revendeur de {town}.",
    "{name}, profitez de -{pct}% sur Nano ROKO jusqu'à {day} chez votre revendeur agréé.",
    "ROKO: {name}, envoyez le code de votre sachet par SMS et tentez de gagner une moto !",
    "Bonne saison {name} ! Nano ROKO: meilleure récolte, moins d'engrais. Revendeur: {town}.",
    "{name}, le tirage ROKO a lieu {day} à 18h. Envoyez vos codes avant minuit pour participer.",
    "Rappel: {name}, votre bon de réduction de {pct}% expire {day}. Présentez ce SMS en boutique.",
    "Nano ROKO arrive à {town} ! {name}, demandez-le à votre revendeur dès {day}.",
    "{name}, merci pour votre participation. Gardez vos sachets: un nouveau tirage a lieu {day}.",
    "Offre spéciale {town}: 2 sachets Nano ROKO achetés = 1 offert. Valable jusqu'à {day}.",
    "Félicitations {name} ! Vous voilà inscrit au tirage ROKO de {day}. Bonne chance.",
)
# A character outside GSM-7 (ç ê ô ’) makes the whole message UCS-2: one SMS up to 70.
UCS2_TEMPLATES = (
    "{name}, votre reçu ROKO est validé. Tirage {day}, bonne chance !",
    "Fête des récoltes à {town}: Nano ROKO à -{pct}% jusqu'à {day}.",
    "{name}, c’est votre tour: envoyez le code ROKO de votre sachet.",
    "Nano ROKO: plus de maïs et de riz. Côté prix, -{pct}% ce {day}.",
)


def message_for(rng: random.Random) -> str:
    values = {"name": rng.choice(FIRST_NAMES), "town": rng.choice(TOWNS), "day": rng.choice(DAYS),
              "pct": rng.choice((5, 10, 15, 20, 25))}
    templates = UCS2_TEMPLATES if rng.random() < 0.10 else GSM7_TEMPLATES
    return rng.choice(templates).format(**values)


def build_batch(count: int, rng: random.Random, scheduled_ms: int) -> dict[str, Any]:
    batch_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    engagement = f"{rng.randrange(10**8, 10**9)}"
    suffixes = rng.sample(range(10**7), count)  # distinct numbers within the batch
    prefixes = ("62", "62", "62", "66", "65", "61")
    recipients = [{
        "mobileNumber": f"+224{rng.choice(prefixes)}{suffix:07d}",
        "message": message_for(rng),
        "customerId": f"GN-{rng.randrange(10**9):09d}",
    } for suffix in suffixes]
    return {
        "batchId": batch_id,
        "requestId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "senderId": "ROKO",
        "metadata": {"appId": 1046, "brandId": "roko-guinee", "campaignId": f"{rng.randrange(100000, 999999)}",
                     "campaignType": 1, "channelId": 493, "engagementId": engagement, "isHashed": False,
                     "scheduledTime": scheduled_ms, "tenantId": 2187},
        "recipients": recipients,
    }


def encode(batch: dict[str, Any]) -> bytes:
    return json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def describe_messages(batch: dict[str, Any]) -> dict[str, Any]:
    """Encodings, lengths, and that every message fits one SMS (so accepted == N is expected)."""
    from roko_app.sms.encoding import analyze

    infos = [analyze(r["message"]) for r in batch["recipients"]]
    if not all(info.fits for info in infos):
        raise BenchError("a generated message does not fit one SMS: fix the templates")
    lengths = [len(r["message"]) for r in batch["recipients"]]
    accented = sum(1 for r in batch["recipients"] if any(ord(ch) > 127 for ch in r["message"]))
    return {"encodings": dict(Counter(info.encoding for info in infos)), "chars_min": min(lengths),
            "chars_median": median([float(x) for x in lengths]), "chars_max": max(lengths),
            "non_ascii_share": accented / len(infos)}


# --------------------------------------------------------------------------- machine


def sched_times(pid: int) -> tuple[float, float]:
    """(seconds on a CPU, seconds runnable but waiting for a CPU) of all of ``pid``'s
    threads so far, from ``/proc/<pid>/task/*/schedstat``; (nan, nan) if it is gone."""
    on_cpu = waiting = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = (task / "schedstat").read_text().split()
                on_cpu += int(fields[0])
                waiting += int(fields[1])
    except OSError:
        return float("nan"), float("nan")
    return on_cpu / 1e9, waiting / 1e9


def postgres_backends(database: str | None) -> dict[int, tuple[float, float]]:
    """``sched_times`` of each PostgreSQL backend connected to ``database`` (found by
    their process titles, ``postgres: <user> <database> <client> <state>``)."""
    if not database:
        return {}
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if title.startswith("postgres:") and f" {database} " in title:
                found[int(entry.name)] = sched_times(int(entry.name))
    return found


def mb(kib: int) -> float:
    """/proc's kB (really KiB) as decimal megabytes, the unit of the target."""
    return kib * 1024 / 1e6


def default_max_body() -> int:
    import config

    return int(config.OPTIMOVE_MAX_BODY)


# --------------------------------------------------------------------------- the server


@dataclass
class Server:
    """A gunicorn master with one sync worker serving ``wsgi:app`` on a loopback port."""

    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _log_file: Any = None

    def start(self) -> None:
        self.port = free_port()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = spawn_gunicorn(["-w", "1", "-k", "sync", "--timeout", "600", "-b", f"{HOST}:{self.port}",
                                    "--log-level", "warning", "wsgi:app"], self.env, self._log_file)
        if not wait_for_healthz(self.proc, self.port, 60):
            if self.proc.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.proc.returncode}; see {self.log_path}")
            raise BenchError(f"gunicorn did not answer /healthz within 60 s; see {self.log_path}")

    def stop(self) -> None:
        stop_gunicorn(self.proc, 30)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def worker_pid(self) -> int:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        if len(children) != 1:
            raise BenchError(f"expected one gunicorn worker, found {children}")
        return int(children[0])

    def errors_logged(self) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if " ERROR " in line or "Traceback" in line or "[CRITICAL]" in line or "WORKER TIMEOUT" in line]


# --------------------------------------------------------------------------- databases


class Counts:
    """Row counts read through a connection of the benchmark's own."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(database_url)

    def read(self, batch_id: str) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            def one(sql: str, **params: Any) -> int:
                return int(conn.execute(text(sql), params).scalar_one())

            return {
                "batch_outbox": one("SELECT count(*) FROM outbound_sms o JOIN campaign_batch b "
                                    "ON o.campaign_batch_id = b.id WHERE b.batch_id = :b", b=batch_id),
                "batch_rejections": one("SELECT count(*) FROM campaign_rejection r JOIN campaign_batch b "
                                        "ON r.batch_id = b.id WHERE b.batch_id = :b", b=batch_id),
                "outbox_total": one("SELECT count(*) FROM outbound_sms"),
                "batches_total": one("SELECT count(*) FROM campaign_batch"),
            }

    def close(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------- requests


@dataclass
class Client:
    port: int
    key: str
    secret: str

    def post(self, body: bytes, signature: str | None = None) -> tuple[int, dict[str, Any] | str, float]:
        """(status, parsed answer, seconds from connecting to the last byte of the answer)."""
        from roko_app.web.credentials import sign

        headers = {"Content-Type": "application/json", "X-API-Key": self.key,
                   "x-hub-signature": signature if signature is not None else sign(body, self.secret)}
        started = time.perf_counter()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
        try:
            # the server may answer (e.g. 413) and close before reading it all: read that answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                conn.request("POST", PATH, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            elapsed = time.perf_counter() - started
        finally:
            conn.close()
        try:
            parsed: dict[str, Any] | str = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:500]
        return response.status, parsed, elapsed


@dataclass
class Prepared:
    batch_id: str
    count: int
    body: bytes
    signature: str


def prepare(count: int, rng: random.Random, secret: str) -> Prepared:
    from roko_app.web.credentials import sign

    batch = build_batch(count, rng, int((time.time() + 3600) * 1000))
    body = encode(batch)
    return Prepared(batch["batchId"], count, body, sign(body, secret))


def timed_post(client: Client, server: Server, prepared: Prepared, settle: float,
               database: str | None) -> dict[str, Any]:
    """Post one prepared batch and account for the wall time: the worker's time on a CPU
    and waiting for one (run queue), the same for the PostgreSQL backends of the bench
    database, and how busy the rest of the machine was."""
    waited, quiet = wait_for_quiet(settle) if settle > 0 else (0.0, float("nan"))
    pid = server.worker_pid()
    worker_before = sched_times(pid)
    db_before = postgres_backends(database)
    busy_before, _, steal_before = machine_cpu()
    status, answer, elapsed = client.post(prepared.body, prepared.signature)
    busy_after, _, steal_after = machine_cpu()
    worker_after = sched_times(pid)
    db_after = postgres_backends(database)
    worker_cpu, worker_wait = worker_after[0] - worker_before[0], worker_after[1] - worker_before[1]
    db_cpu = sum(t[0] - db_before.get(p, (0.0, 0.0))[0] for p, t in db_after.items())
    db_wait = sum(t[1] - db_before.get(p, (0.0, 0.0))[1] for p, t in db_after.items())
    return {"status": status, "answer": answer, "seconds": elapsed,
            "worker_cpu_s": worker_cpu, "worker_runqueue_s": worker_wait,
            "db_cpu_s": db_cpu, "db_runqueue_s": db_wait,
            # neither on a CPU nor waiting for one: reading the body, waiting for the
            # database's answers, I/O
            "worker_blocked_s": elapsed - worker_cpu - worker_wait,
            # the CPU the request cost: with the CPUs to itself (and no overlap between the
            # worker and the database) it would take about this, plus I/O
            "cpu_work_s": worker_cpu + db_cpu,
            "other_busy_cores": ((busy_after - busy_before) - worker_cpu - db_cpu) / elapsed,
            "steal_cores": (steal_after - steal_before) / elapsed,
            "busy_cores_before": quiet, "settle_wait_s": waited, "loadavg_1m": os.getloadavg()[0]}


def describe(r: dict[str, Any]) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    db = f"; database CPU {ms(r['db_cpu_s'])}, waiting {ms(r['db_runqueue_s'])}" if r["db_cpu_s"] else ""
    return (f"{ms(r['seconds']):>6} ms (worker: CPU {ms(r['worker_cpu_s'])}, waiting for a CPU "
            f"{ms(r['worker_runqueue_s'])}, blocked {ms(r['worker_blocked_s'])}{db}; "
            f"other busy {r['other_busy_cores']:.2f} cores, steal {r['steal_cores']:.2f})")


def check_answer(r: dict[str, Any], prepared: Prepared, replay: bool) -> None:
    answer = r["answer"]
    what = f"{'replay of ' if replay else ''}batch {prepared.batch_id} ({prepared.count} recipients)"
    if r["status"] != 200 or not isinstance(answer, dict):
        raise BenchError(f"{what}: HTTP {r['status']} {str(answer)[:300]}")
    expected_message = "Batch replayed; nothing more queued" if replay else "Batch accepted"
    if answer.get("accepted") != prepared.count or answer.get("rejected") != 0 \
            or answer.get("batchId") != prepared.batch_id or answer.get("message") != expected_message:
        raise BenchError(f"{what}: unexpected answer {answer}")


def check_counts(counts: dict[str, int], prepared: Prepared, outbox_total: int, batches_total: int,
                 what: str) -> None:
    expected = {"batch_outbox": prepared.count, "batch_rejections": 0, "outbox_total": outbox_total,
                "batches_total": batches_total}
    if counts != expected:
        raise BenchError(f"{what} {prepared.batch_id}: database holds {counts}, expected {expected}")


# --------------------------------------------------------------------------- one backend


def run_backend(backend: str, database_url: str, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    counts = Counts(database_url)
    version = server_version(database_url)
    database = counts.engine.url.database if counts.engine.dialect.name == "postgresql" else None
    log(f"\n=== {backend}: {version}")
    key, secret = "bench-key-" + uuid.uuid4().hex, "bench-secret-" + uuid.uuid4().hex
    env = server_env(ROKO_ENV="dev", ROKO_DATABASE_URL=database_url, ROKO_LOG_LEVEL="WARNING",
                     ROKO_OPTIMOVE_API_KEY=key, ROKO_OPTIMOVE_HMAC_SECRET=secret,
                     ROKO_OPTIMOVE_RATE_LIMIT=RATE_LIMIT, ROKO_OPTIMOVE_MAX_BODY=str(args.max_body))
    rng = random.Random(f"{args.seed}-{backend}")
    outbox_total = batches_total = 0
    rounds: list[dict[str, Any]] = []
    result: dict[str, Any] = {"backend": backend, "database": version, "rounds": rounds}
    servers = []

    def accept_and_replay(client: Client, server: Server, prepared: Prepared, label: str,
                          settle: float) -> tuple[dict[str, Any], dict[str, Any]]:
        nonlocal outbox_total, batches_total
        first = timed_post(client, server, prepared, settle, database)
        first["memory_kb"] = memory_kb(server.worker_pid())  # before the replay
        check_answer(first, prepared, replay=False)
        outbox_total += prepared.count
        batches_total += 1
        check_counts(counts.read(prepared.batch_id), prepared, outbox_total, batches_total, label)
        again = timed_post(client, server, prepared, settle, database)
        again["memory_kb"] = memory_kb(server.worker_pid())
        check_answer(again, prepared, replay=True)
        check_counts(counts.read(prepared.batch_id), prepared, outbox_total, batches_total, f"{label} replay")
        if again["answer"]["processedAt"] != first["answer"]["processedAt"]:  # type: ignore[index]
            raise BenchError(f"{label}: the replay's processedAt differs from the original's")
        return first, again

    try:
        # --- rounds of distinct 10k batches and their replays
        server = Server(env, logs / f"{backend}-rounds.log")
        servers.append(server)
        server.start()
        client = Client(server.port, key, secret)
        sample = prepare(args.recipients, rng, secret)
        result["body"] = {"recipients": args.recipients, "bytes": len(sample.body),
                          "bytes_per_recipient": len(sample.body) / args.recipients,
                          "messages": describe_messages(json.loads(sample.body))}
        log(f"body: {args.recipients} recipients = {len(sample.body):,} bytes "
            f"({len(sample.body) / 1e6:.2f} MB, {len(sample.body) / args.recipients:.0f} bytes per recipient); "
            f"messages {result['body']['messages']}")
        status, answer, _ = client.post(sample.body, "sha256=" + "0" * 64)
        if status != 401 or not isinstance(answer, dict) or answer.get("code") != "INVALID_SIGNATURE":
            raise BenchError(f"a wrongly signed batch answered {status} {str(answer)[:300]}")
        if counts.read(sample.batch_id) != {"batch_outbox": 0, "batch_rejections": 0, "outbox_total": 0,
                                            "batches_total": 0}:
            raise BenchError("a wrongly signed batch stored rows")
        accept_and_replay(client, server, prepare(WARMUP_RECIPIENTS, rng, secret), "warm-up", 0)
        batches = [sample] + [prepare(args.recipients, rng, secret) for _ in range(args.rounds - 1)]
        for number, prepared in enumerate(batches, start=1):
            first, again = accept_and_replay(client, server, prepared, f"round {number}", args.settle)
            for kind, r in (("accept", first), ("replay", again)):
                rounds.append({"round": number, "kind": kind, "batch_id": prepared.batch_id,
                               "bytes": len(prepared.body), **{k: v for k, v in r.items() if k != "answer"}})
            log(f"  round {number}: accept {describe(first)}\n           replay {describe(again)}"
                f"\n           load {first['loadavg_1m']:.1f}, rows ok")
        result["rounds_server_memory_kb"] = memory_kb(server.worker_pid())
        server.stop()

        # --- memory: a fresh worker, one big batch
        if args.big > 0:
            server = Server(env, logs / f"{backend}-memory.log")
            servers.append(server)
            server.start()
            client = Client(server.port, key, secret)
            accept_and_replay(client, server, prepare(WARMUP_RECIPIENTS, rng, secret), "memory warm-up", 0)
            pid = server.worker_pid()
            baseline = memory_kb(pid)
            big = prepare(args.big, rng, secret)
            if len(big.body) > args.max_body:
                log(f"WARNING: the big body ({len(big.body):,} bytes) exceeds --max-body ({args.max_body:,}): "
                    "expect 413")
            log(f"big body: {args.big} recipients = {len(big.body):,} bytes ({len(big.body) / 1e6:.1f} MB); "
                f"worker {pid} baseline VmHWM {mb(baseline['VmHWM']):.1f} MB")
            first, again = accept_and_replay(client, server, big, "big batch", args.settle)
            if server.worker_pid() != pid:
                raise BenchError("the gunicorn worker was replaced during the big batch")
            result["big"] = {
                "recipients": args.big, "bytes": len(big.body), "pid": pid, "baseline_kb": baseline,
                "after_accept_kb": first["memory_kb"], "after_replay_kb": again["memory_kb"],
                "accept": {k: v for k, v in first.items() if k != "answer"},
                "replay": {k: v for k, v in again.items() if k != "answer"},
            }
            log(f"  big batch: accept {describe(first)}\n             replay {describe(again)}"
                f"\n             VmHWM {mb(baseline['VmHWM']):.1f} -> "
                f"{mb(first['memory_kb']['VmHWM']):.1f} MB (after the replay "
                f"{mb(again['memory_kb']['VmHWM']):.1f} MB)   rows ok")
            server.stop()
    finally:
        for server in servers:
            server.stop()
        counts.close()
    result["problems"] = [f"{s.log_path.name}: {line}" for s in servers for line in s.errors_logged()[:3]]
    result["summary"] = summarize(result)
    return result


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    accept = [r for r in result["rounds"] if r["kind"] == "accept"]
    replay = [r for r in result["rounds"] if r["kind"] == "replay"]
    summary: dict[str, Any] = {}
    for name, rows, target in (("accept", accept, TARGET_ACCEPT_S), ("replay", replay, TARGET_REPLAY_S)):
        summary[name] = {
            "median_s": median([r["seconds"] for r in rows]),
            "min_s": min(r["seconds"] for r in rows),
            "max_s": max(r["seconds"] for r in rows),
            "worker_cpu_median_s": median([r["worker_cpu_s"] for r in rows]),
            "worker_runqueue_median_s": median([r["worker_runqueue_s"] for r in rows]),
            "db_cpu_median_s": median([r["db_cpu_s"] for r in rows]),
            "db_runqueue_median_s": median([r["db_runqueue_s"] for r in rows]),
            "worker_blocked_median_s": median([r["worker_blocked_s"] for r in rows]),
            "cpu_work_median_s": median([r["cpu_work_s"] for r in rows]),
            "cpu_work_rounds_s": [round(r["cpu_work_s"], 3) for r in rows],
            "other_busy_cores_median": median([r["other_busy_cores"] for r in rows]),
            "rounds_s": [round(r["seconds"], 3) for r in rows],
            "target_s": target,
        }
        summary[name]["pass"] = summary[name]["median_s"] < target
    if "big" in result:
        big = result["big"]
        peak = mb(big["after_accept_kb"]["VmHWM"])
        summary["memory"] = {"baseline_vmhwm_mb": mb(big["baseline_kb"]["VmHWM"]), "peak_vmhwm_mb": peak,
                             "peak_after_replay_mb": mb(big["after_replay_kb"]["VmHWM"]),
                             "rss_after_mb": mb(big["after_replay_kb"]["VmRSS"]),
                             "target_mb": TARGET_PEAK_MB, "pass": peak < TARGET_PEAK_MB}
    return summary


def print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    s = result["summary"]
    body = result["body"]
    log(f"\n{result['backend']} ({result['database']}): {args.rounds} distinct batches of {args.recipients} "
        f"recipients ({body['bytes'] / 1e6:.2f} MB each) and their replays; gunicorn -w 1 -k sync")
    log(f"  {'':<8}{'median':>8}{'min':>8}{'max':>8}{'worker CPU':>12}{'CPU wait':>10}{'blocked':>9}"
        f"{'db CPU':>8}{'db wait':>9}{'CPU work':>10}{'other busy':>12}{'target':>9}")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    for name in ("accept", "replay"):
        row = s[name]
        log(f"  {name:<8}{ms(row['median_s']):>8}{ms(row['min_s']):>8}{ms(row['max_s']):>8}"
            f"{ms(row['worker_cpu_median_s']):>12}{ms(row['worker_runqueue_median_s']):>10}"
            f"{ms(row['worker_blocked_median_s']):>9}{ms(row['db_cpu_median_s']):>8}"
            f"{ms(row['db_runqueue_median_s']):>9}{ms(row['cpu_work_median_s']):>10}"
            f"{row['other_busy_cores_median']:>12.2f}{'< ' + ms(row['target_s']):>9}  "
            f"{'PASS' if row['pass'] else 'FAIL'}")
    log("  (ms, medians over the rounds. Worker CPU / CPU wait / blocked: the gunicorn worker on a CPU, runnable"
        " but waiting for one, neither; db: the PostgreSQL backends of the bench database; CPU work = worker CPU +"
        " db CPU; other busy: cores used by everything else. PASS/FAIL is on the measured wall-time median.)")
    if "memory" in s:
        m, big = s["memory"], result["big"]
        log(f"  {big['recipients']} recipients ({big['bytes'] / 1e6:.1f} MB): accepted in "
            f"{big['accept']['seconds']:.2f} s (worker CPU {big['accept']['worker_cpu_s']:.2f} s), replay "
            f"{big['replay']['seconds']:.2f} s; worker VmHWM {m['baseline_vmhwm_mb']:.1f} MB before -> "
            f"{m['peak_vmhwm_mb']:.1f} MB after (target < {TARGET_PEAK_MB:.0f} MB)  "
            f"{'PASS' if m['pass'] else 'FAIL'}")
    for problem in result["problems"]:
        log(f"  PROBLEM: {problem}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="distinct batches per backend (default 5)")
    parser.add_argument("--recipients", type=int, default=TARGET_RECIPIENTS,
                        help=f"recipients per timed batch (default {TARGET_RECIPIENTS})")
    parser.add_argument("--big", type=int, default=TARGET_BIG,
                        help=f"recipients of the memory batch; 0 skips it (default {TARGET_BIG})")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY,
                        help=f"ROKO_OPTIMOVE_MAX_BODY for the server (default {DEFAULT_MAX_BODY})")
    parser.add_argument("--settle", type=float, default=5.0,
                        help=f"before each timed request wait up to this many seconds for the machine to be "
                             f"quiet (< {QUIET_CORES} cores busy over 1 s); 0 disables (default 5)")
    parser.add_argument("--seed", default="1", help="seed of the generated bodies (default 1)")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL,
                        help=f"admin connection used to create/drop the database (default {DEFAULT_PG_URL})")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.recipients < 1 or args.big < 0:
        parser.error("--rounds and --recipients must be positive, --big >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("optimove"):
        return 2
    started, stamp, logs, command = start_run("optimove", argv)
    info = machine()
    info["code"] = code_version(list_files=True)
    info["default_max_body"] = default_max_body()
    log(f"{command}\n{info['nproc']} x {info['cpu_model']}, load "
        f"{' '.join(f'{x:.2f}' for x in info['loadavg_start'])}\ncode: commit {info['code']['commit']}, "
        f"modified: {', '.join(info['code']['modified_files'] or []) or 'none'}")
    log(f"server: ROKO_OPTIMOVE_MAX_BODY={args.max_body:,} (config.py default: {info['default_max_body']:,}), "
        f"ROKO_OPTIMOVE_RATE_LIMIT={RATE_LIMIT}, ROKO_LOG_LEVEL=WARNING, gunicorn -w 1 -k sync")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    results: list[dict[str, Any]] = []
    failure = None
    try:
        for backend in backends:
            with migrated_database(backend, args.pg_url, "roko-bench-optimove-") as database_url:
                results.append(run_backend(backend, database_url, args, logs))
    except (BenchError, subprocess.TimeoutExpired, OSError, http.client.HTTPException) as exc:
        failure = f"{type(exc).__name__}: {exc}"
        log(f"ERROR: {failure}")
    for result in results:
        print_table(result, args)
    checks = [r["summary"][k]["pass"] for r in results for k in ("accept", "replay", "memory") if k in r["summary"]]
    met = bool(results) and failure is None and all(checks)
    info["loadavg_end"] = os.getloadavg()
    out = RESULTS / f"optimove-{stamp}.json"
    out.write_text(json.dumps({
        "command": command, "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info,
        "settings": {**vars(args), "gunicorn": "-w 1 -k sync --timeout 600 --log-level warning",
                     "app_log_level": "WARNING", "rate_limit": RATE_LIMIT,
                     "targets": {"accept_s": TARGET_ACCEPT_S, "replay_s": TARGET_REPLAY_S,
                                 "peak_mb": TARGET_PEAK_MB}},
        "results": results, "failure": failure, "all_targets_met": met,
    }, indent=2, ensure_ascii=False))
    for path in logs.glob("*.log"):
        if path.stat().st_size == 0:
            path.unlink()
    with contextlib.suppress(OSError):
        logs.rmdir()  # only when empty
    log(f"\nresults: {out.relative_to(ROOT)}")
    if failure is not None or not results or any(r["problems"] for r in results):
        log("the run failed or had problems (see above): its figures are not trustworthy")
        return 2
    return verdict(met)


if __name__ == "__main__":
    sys.exit(main())
