#!/usr/bin/env python3
"""Soak: ten minutes of real mixed load on PostgreSQL, then every guarantee checked.

    cd /work/main && .venv/bin/python bench/soak.py [--minutes 10] [--rate 20] [--recipients 20000]
        [--rate-per-port 60] [--sample-seconds 5] [--drain-seconds 300] [--no-chart] [--chart bench/soak.png]
        [--results bench/results] [--seed 1] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--redis-url redis://127.0.0.1:6379/0]

What runs (all on 127.0.0.1): a fresh ``roko_bench_<random>`` PostgreSQL database with
the real migrations (dropped at the end, also on error); the app under gunicorn with
``gunicorn.conf.py`` and 2 sync workers; 2 ``flask roko worker`` processes (classify and
send, 4 sending threads each) sharing the per-port throttle through Redis at
``--rate-per-port`` messages/s on the one send port (17); ``PROMETHEUS_MULTIPROC_DIR``
shared by all four so ``/metrics`` adds them up; the Topaz simulator in its own process
posting delivery reports back (2 s later, out of order, 3 % failed, 1 % expired); the
Optimove simulator (``roko_app.optimove.simulator``, in this process) taking our signed
delivery reports and forwarded replies, and answering 503 to ``OPTIMOVE_FAILURES`` calls
in a row at 40 % of the load (they must be retried).

The load, at once for ``--minutes``: inbound SMS at ``--rate`` per second with mixed
outcomes (first and later valid codes, duplicates, already used, unknown codes, bad
format, STOP; ``reply_latency.Plan``), of which, from a third of the load on, one in
``REPLY_EVERY`` is a campaign recipient's reply; one signed ``--recipients`` Optimove
batch (``optimove.build_batch``) a few seconds in, scheduled for now; an operator logged in
reading the dashboard, the entries and a farmer's page every second; ``/metrics`` read
every ``--sample-seconds`` (queue depth and ages, counters, every process's RSS).

After the load it waits (at most ``--drain-seconds``) until nothing is queued, sending,
waiting for a delivery report or waiting to be told to Optimove, stops the workers
(SIGTERM: they must exit 0) and checks: every POST answered 2xx, no 5xx anywhere (our
requests, the simulator's reports, the server's own histogram); every SMS stored once,
classified once (the classification counter equals the SMS stored) and answered by
exactly one reply that reached the gateway once; every campaign message accepted and
sent once (each client_ref once at the gateway, no duplicate send) or cancelled with a
stated reason; no send the outbox does not know; Optimove got, each key once, a delivery
report for the status every campaign message ended in and an incoming message for every
recipient's reply that came after the batch (its text intact), and no callback is left
waiting or refused. It writes p50/p99 per route (client side, and from the server's
histogram), queue depth and ages over time, RSS of each process at the start, after one
minute and at the end, to ``<results>/soak-<UTC stamp>.json``, prints a summary, and
draws throughput, latency and queue depth over the run to ``--chart`` (matplotlib:
``make bench-soak`` installs ``requirements-bench.txt``). Exit status 0 when every check
passed, 2 when one failed or the run could not be made.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classify import import_registry
from common import (
    DEFAULT_PG_URL,
    HOST,
    RESULTS,
    ROOT,
    BenchError,
    Server,
    Simulator,
    code_version,
    describe_run,
    exit_on_sigterm,
    free_port,
    have_sqlalchemy,
    loadavg,
    log,
    machine_cpu,
    memory_kb,
    migrated_database,
    process_cpu,
    server_env,
    server_version,
)
from optimove import build_batch, encode
from reply_latency import Ids, Plan, Planned

from roko_app.optimove.simulator import RunningOptimove
from roko_app.optimove.simulator import start_in_thread as start_optimove

INBOUND = "/api/v1/webhooks/topaz/inbound"
STATUS = "/api/v1/webhooks/topaz/status"
CAMPAIGNS = "/api/v1/webhooks/optimove/campaigns"
TOPAZ_TOKEN = "soak-topaz-token"  # noqa: S105 (a loopback simulator's token)
EMAIL = "soak-operator@roko.test"
PASSWORD = "soak-operator-password-1"  # noqa: S105 (a throwaway database's user)
SEND_PORT = 17
BATCH_AT_S = 5.0  # the Optimove batch is posted this long after the load starts
PENDING = ("QUEUED", "SENDING", "UNCERTAIN", "SENT")  # SENT: its delivery report is still to come
SENT_ONCE = ("SENT", "DELIVERED", "UNDELIVERED", "EXPIRED", "UNREPORTED")
OPTIMOVE_APP_KEY = "soak-optimove-app-key"  # noqa: S105 (a loopback simulator's key)
OPTIMOVE_FAILURES = 20  # calls in a row the Optimove simulator answers 503, at 40 % of the load
REPLY_EVERY = 25  # from a third of the load on, one planned SMS in this many is a campaign recipient's reply
REPLY_TEXT = "Merci pour le message, à bientôt"
#: The key of the delivery report a campaign message's final state must have produced
#: (the default OPTIMOVE_STATUS_MAP; an opted-out cancellation reports as OPTED_OUT).
FINAL_REPORT = """
    SELECT id, CASE WHEN status = 'CANCELLED' THEN 'OPTED_OUT' ELSE status END
    FROM outbound_sms
    WHERE campaign_batch_id IS NOT NULL
      AND (status IN ('DELIVERED', 'UNDELIVERED', 'EXPIRED', 'UNREPORTED', 'FAILED')
           OR status = 'CANCELLED' AND last_error = 'CANCELLED_OPTED_OUT')"""
#: The farmers' SMS that must be forwarded: from a number that got a campaign message
#: queued before it (within the 72 h reply window: the whole run).
FORWARDED = """
    SELECT s.id FROM inbound_sms s
    WHERE EXISTS (SELECT 1 FROM outbound_sms o WHERE o.campaign_batch_id IS NOT NULL
                  AND o.to_msisdn = s.sender_msisdn AND o.created_at <= s.received_at)"""


# --------------------------------------------------------------------------- what we record


@dataclass
class Call:
    route: str
    started: float  # seconds since the load started
    seconds: float
    status: int  # 0: no answer (connection error)


@dataclass
class Record:
    """Everything the load threads write down (appends are atomic under the GIL)."""

    t0: float = 0.0  # time.monotonic() when the load started
    calls: list[Call] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def call(self, route: str, started: float, status: int) -> None:
        self.calls.append(Call(route, started - self.t0, time.monotonic() - started, status))


def request(port: int, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------- the processes


class DlrSimulator(Simulator):
    """The Topaz simulator posting delivery reports to ``dlr_url``."""

    dlr_url: str = ""
    dlr_token: str = ""

    def options(self) -> list[str]:
        return ["--dlr-url", self.dlr_url, "--dlr-token", self.dlr_token, "--dlr-delay-ms", "2000", "--dlr-shuffle",
                "--dlr-fail-rate", "0.03", "--dlr-expire-rate", "0.01"]


@dataclass
class Stack:
    database_url: str
    logs: Path
    args: argparse.Namespace
    token: str = field(default_factory=lambda: "soak-" + uuid.uuid4().hex)
    optimove_key: str = field(default_factory=lambda: "soak-om-" + uuid.uuid4().hex[:12])
    optimove_secret: str = field(default_factory=lambda: uuid.uuid4().hex)
    metrics_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="roko-soak-metrics-")))
    web: Server | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    simulator: DlrSimulator | None = None
    optimove: RunningOptimove | None = None

    def env(self, topaz_url: str, optimove_url: str) -> dict[str, str]:
        return server_env(
            ROKO_ENV="dev", ROKO_DATABASE_URL=self.database_url, ROKO_LOG_LEVEL="INFO",
            ROKO_SECRET_KEY=uuid.uuid4().hex, ROKO_WEBHOOK_INBOUND_TOKEN=self.token, ROKO_TOPAZ_URL=topaz_url,
            ROKO_TOPAZ_TOKEN=TOPAZ_TOKEN, ROKO_TOPAZ_SEND_PORT=str(SEND_PORT),
            ROKO_TOPAZ_RATE_PER_PORT=str(self.args.rate_per_port),
            ROKO_RATELIMIT_STORAGE_URI=self.args.redis_url,
            ROKO_RATELIMIT_KEY_PREFIX="roko-soak-" + uuid.uuid4().hex[:8],
            ROKO_OPTIMOVE_API_KEY=self.optimove_key, ROKO_OPTIMOVE_HMAC_SECRET=self.optimove_secret,
            ROKO_OPTIMOVE_BASE_URL=optimove_url, ROKO_OPTIMOVE_APP_API_KEY=OPTIMOVE_APP_KEY,
            PROMETHEUS_MULTIPROC_DIR=str(self.metrics_dir), PYTHONUNBUFFERED="1")

    def start(self) -> None:
        topaz_port = free_port()
        self.optimove = start_optimove(OPTIMOVE_APP_KEY, self.optimove_secret)
        env = self.env(f"http://{HOST}:{topaz_port}", self.optimove.url)
        self.web = Server("web", "wsgi:app", env, self.logs / "web.log", workers=2)
        self.web.start()  # gunicorn reads gunicorn.conf.py from the project folder
        self.simulator = DlrSimulator(self.logs / "simulator.log", TOPAZ_TOKEN, port=topaz_port)
        self.simulator.dlr_url = f"{self.web.base_url}{STATUS}"
        self.simulator.dlr_token = self.token
        self.simulator.start()
        paths = [self.logs / f"worker-{number}.log" for number in (1, 2)]
        for path in paths:
            with open(path, "ab") as out:
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker"], cwd=ROOT, env=env,
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 60
        for number, (path, worker) in enumerate(zip(paths, self.workers, strict=True), 1):
            while b"worker started" not in path.read_bytes():
                if worker.poll() is not None:
                    raise BenchError(f"worker {number} exited at start; see {path}")
                if time.monotonic() > deadline:
                    raise BenchError(f"worker {number} did not start within 60 s; see {path}")
                time.sleep(0.1)

    def pids(self) -> dict[str, int]:
        found = {}
        if self.web and self.web.proc:
            found["gunicorn master"] = self.web.proc.pid
            for i, pid in enumerate(sorted(self.web.worker_pids()), 1):
                found[f"gunicorn worker {i}"] = pid
        for i, worker in enumerate(self.workers, 1):
            found[f"roko worker {i}"] = worker.pid
        if self.simulator and self.simulator.proc:
            found["topaz simulator"] = self.simulator.proc.pid
        return found

    def check_alive(self) -> None:
        for i, worker in enumerate(self.workers, 1):
            if worker.poll() is not None:
                raise BenchError(f"roko worker {i} died ({worker.returncode}); see {self.logs}")
        if self.web is None or self.web.proc is None or self.web.proc.poll() is not None:
            raise BenchError(f"gunicorn died; see {self.logs}")
        if self.simulator:
            self.simulator.check_alive()

    def stop_workers(self) -> list[int | None]:
        codes: list[int | None] = []
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                codes.append(worker.wait(timeout=60))
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=5)
                codes.append(None)
        return codes

    def stop(self) -> None:
        self.stop_workers()
        if self.web:
            self.web.stop()
        if self.simulator:
            self.simulator.stop()
        if self.optimove:
            self.optimove.stop()
        shutil.rmtree(self.metrics_dir, ignore_errors=True)


def create_operator(database_url: str) -> None:
    from roko_app import create_app
    from roko_app.extensions import db
    from roko_app.services import accounts

    app = create_app({"DATABASE_URL": database_url, "ENV": "dev", "LOG_LEVEL": "WARNING"})
    with app.app_context():
        accounts.create_user(EMAIL, "operator", PASSWORD)
        db.session.commit()
        db.engine.dispose()


# --------------------------------------------------------------------------- the load


def post_inbound(port: int, token: str, sms: Planned, record: Record) -> None:
    body = json.dumps({"gateway_sms_id": sms.gateway_sms_id, "port": SEND_PORT, "sender": sms.sender,
                       "text": sms.text, "source": "topaz",
                       "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}).encode()
    started = time.monotonic()
    sms.posted_at = time.time()
    try:
        sms.status, answer = request(port, "POST", INBOUND, body, {
            "Content-Type": "application/json", "X-Roko-Webhook-Token": token}, timeout=30)
        sms.answer = answer.decode("utf-8", "replace")[:200]
    except OSError as exc:
        sms.answer = f"{type(exc).__name__}: {exc}"
    sms.answered_at = time.time()
    record.call("POST inbound", started, sms.status)


def inbound_load(port: int, token: str, plan: list[Planned], rate: float, threads: int, record: Record) -> None:
    def work(offset: int) -> None:
        for sms in plan[offset::threads]:
            delay = record.t0 + sms.index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            post_inbound(port, token, sms, record)

    pool = [threading.Thread(target=work, args=(i,), name=f"inbound-{i}", daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()


def campaign_load(stack: Stack, batch: dict[str, Any], record: Record, result: dict[str, Any]) -> None:
    from roko_app.web.credentials import sign

    body = encode(batch)
    time.sleep(max(record.t0 + BATCH_AT_S - time.monotonic(), 0))
    started = time.monotonic()
    try:
        status, answer = request(stack.web.port, "POST", CAMPAIGNS, body, {  # type: ignore[union-attr]
            "Content-Type": "application/json", "X-API-Key": stack.optimove_key,
            "x-hub-signature": sign(body, stack.optimove_secret)}, timeout=300)
    except OSError as exc:
        status, answer = 0, str(exc).encode()
    record.call("POST optimove campaign", started, status)
    result.update(status=status, seconds=time.monotonic() - started, bytes=len(body), batch_id=batch["batchId"],
                  answer=json.loads(answer) if status == 200 else answer.decode("utf-8", "replace")[:300])


def console_load(base: str, plan: list[Planned], stop: threading.Event, record: Record) -> None:
    """An operator reading the dashboard, the entries and the page of a farmer who texted
    already, once a second."""
    import re

    import requests

    session = requests.Session()
    session.trust_env = False
    page = session.get(base + "/login", timeout=30).text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page)
    if token is None:
        record.errors.append("console: no CSRF token on /login")
        return
    response = session.post(base + "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
                            allow_redirects=False, timeout=30)
    if response.status_code != 302:
        record.errors.append(f"console: log-in answered {response.status_code}")
        return
    rng = random.Random(5)
    tick = time.monotonic()
    while not stop.is_set():
        # a number whose SMS was stored a few seconds ago (classified by now), not a campaign
        # recipient's reply (its sender is written +224..., which the page redirects)
        settled = time.time() - 5
        posted = [sms.sender for sms in plan[:max(1, int(time.monotonic() - record.t0) * 10)]
                  if sms.status and sms.answered_at < settled and sms.kind != "campaign_reply"]
        pages = [("GET dashboard", "/console/"), ("GET entries", "/console/entries")]
        if posted:  # none in the first seconds
            pages.append(("GET farmer", f"/console/farmers/{rng.choice(posted)}"))
        for route, path in pages:
            started = time.monotonic()
            try:
                answer = session.get(base + path, allow_redirects=False, timeout=60)
                status = answer.status_code
            except requests.RequestException:
                status = 0
            record.call(route, started, status)
            if status != 200:
                record.errors.append(f"console {path}: {status}")
        tick += 1.0
        stop.wait(max(tick - time.monotonic(), 0))


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and all((k, labels[k]) in ls for k in labels))


def sampler(stack: Stack, every: float, stop: threading.Event, record: Record) -> None:
    """Every ``every`` seconds: /metrics (queues, counters) and every process's RSS."""
    pids = stack.pids()
    while True:
        started = time.monotonic()
        try:
            status, body = request(stack.web.port, "GET", "/metrics", timeout=30)  # type: ignore[union-attr]
        except OSError:
            status, body = 0, b""
        record.call("GET metrics", started, status)
        if status == 200:
            m = parse_metrics(body.decode())
            record.samples.append({
                "t": started - record.t0,
                "inbound_stored": total(m, "roko_inbound_sms_total", result="stored"),
                "classified": total(m, "roko_classified_sms_total"),
                "sent": total(m, "roko_gateway_sends_total", result="sent"),
                "send_attempts": total(m, "roko_gateway_sends_total"),
                "delivery_reports": total(m, "roko_delivery_reports_total"),
                "queued_replies": total(m, "roko_outbox_messages", status="QUEUED", priority="10"),
                "queued_bulk": total(m, "roko_outbox_messages", status="QUEUED", priority="0"),
                "sending": total(m, "roko_outbox_messages", status="SENDING"),
                "uncertain": total(m, "roko_outbox_messages", status="UNCERTAIN"),
                "oldest_due_reply_s": total(m, "roko_outbox_oldest_due_age_seconds", priority="10"),
                "oldest_due_bulk_s": total(m, "roko_outbox_oldest_due_age_seconds", priority="0"),
                "classification_lag_s": total(m, "roko_classification_lag_seconds"),
                "http_5xx": sum(v for (n, ls), v in m.items() if n == "roko_http_request_duration_seconds_count"
                                and dict(ls).get("status", "").startswith("5")),
                "rss_kb": {name: _rss(pid) for name, pid in pids.items()},
                "loadavg": loadavg(),
            })
        if stop.wait(max(every - (time.monotonic() - started), 0)):
            return


def _rss(pid: int) -> int:
    try:
        return memory_kb(pid)["VmRSS"]
    except (OSError, KeyError):
        return 0


def campaign_replies(plan: list[Planned], batch: dict[str, Any]) -> int:
    """From a third of the load on, one planned SMS in ``REPLY_EVERY`` becomes a reply from a
    campaign recipient (the batch's first ones, sent first); how many."""
    numbers = [recipient["mobileNumber"] for recipient in batch["recipients"]]
    replies = 0
    for sms in plan[len(plan) // 3::REPLY_EVERY]:
        sms.sender, sms.text, sms.kind = numbers[replies % len(numbers)], REPLY_TEXT, "campaign_reply"
        replies += 1
    return replies


def optimove_outage(stack: Stack, record: Record, at: float, stop: threading.Event) -> None:
    """``at`` seconds into the load, Optimove answers the next ``OPTIMOVE_FAILURES`` calls 503."""
    if not stop.wait(max(record.t0 + at - time.monotonic(), 0)) and stack.optimove is not None:
        stack.optimove.simulator.fail(503, OPTIMOVE_FAILURES)


# --------------------------------------------------------------------------- after the load


def drain(stack: Stack, database_url: str, timeout: float) -> dict[str, int]:
    """Wait until nothing is waiting (classification, sending, a delivery report): what is left."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as conn:
                left = {"unclassified": conn.execute(text(
                    "SELECT count(*) FROM inbound_sms WHERE classified_at IS NULL")).scalar_one()}
                for status, count in conn.execute(text("SELECT status, count(*) FROM outbound_sms GROUP BY status")):
                    if status in PENDING:
                        left[status] = count
                # what Optimove is still to hear: reports not queued yet, callbacks not posted yet
                left["optimove_unreported"] = conn.execute(text(
                    f"SELECT count(*) FROM ({FINAL_REPORT}) AS f (id, reported) JOIN outbound_sms o ON o.id = f.id "  # noqa: S608
                    "WHERE o.optimove_reported IS DISTINCT FROM f.reported")).scalar_one()
                left["optimove_pending"] = conn.execute(text(
                    "SELECT count(*) FROM optimove_callback WHERE state = 'PENDING'")).scalar_one()
            if not any(left.values()) or time.monotonic() > deadline:
                return {k: v for k, v in left.items() if v}
            stack.check_alive()
            time.sleep(2)
    finally:
        engine.dispose()


def check(database_url: str, plan: list[Planned], sends: list[dict[str, Any]], simulator_log: Path,
          campaign: dict[str, Any], recipients: int, record: Record) -> tuple[list[str], dict[str, Any]]:
    """Every guarantee; (problems, figures)."""
    from sqlalchemy import create_engine, text

    problems = [f"inbound {s.gateway_sms_id} ({s.kind}): HTTP {s.status} {s.answer}" for s in plan if s.status != 200]
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            inbound = conn.execute(text(
                "SELECT s.id, s.gateway_sms_id, s.classified_at, e.outcome FROM inbound_sms s "
                "LEFT JOIN entry e ON e.sms_id = s.id WHERE s.port = :port"), {"port": SEND_PORT}).all()
            outbound = conn.execute(text(
                "SELECT id, status, reply_to_sms_id, campaign_batch_id, last_error FROM outbound_sms")).all()
            batches = conn.execute(text("SELECT count(*) FROM campaign_batch")).scalar_one()
    finally:
        engine.dispose()
    by_gateway = Counter(row.gateway_sms_id for row in inbound)
    planned = {s.gateway_sms_id for s in plan}
    if set(by_gateway) != planned or any(n != 1 for n in by_gateway.values()):
        problems.append(f"{len(inbound)} SMS stored for {len(plan)} posted "
                        f"({sum(1 for n in by_gateway.values() if n > 1)} twice, {len(planned - set(by_gateway))} missing)")
    unclassified = [row.id for row in inbound if row.classified_at is None]
    if unclassified:
        problems.append(f"{len(unclassified)} SMS not classified (e.g. {unclassified[:5]})")
    at_gateway = Counter(send["client_ref"] for send in sends)
    duplicates = sum(1 for line in simulator_log.read_text(errors="replace").splitlines()
                     if " send client_ref=" in line and line.endswith("duplicate=True"))
    if duplicates:
        problems.append(f"the gateway saw {duplicates} send(s) of a client_ref it had already")
    replies: dict[int, list[Any]] = defaultdict(list)
    known_refs = set()
    for row in outbound:
        known_refs.add(f"roko-out-{row.id}")
        if row.reply_to_sms_id is not None:
            replies[row.reply_to_sms_id].append(row)
    unanswered, answered_twice, not_at_gateway = [], [], []
    for row in inbound:
        mine = replies.get(row.id, [])
        if not mine:
            unanswered.append(row.id)
        elif len(mine) > 1:
            answered_twice.append(row.id)
        elif at_gateway[f"roko-out-{mine[0].id}"] != 1:
            not_at_gateway.append(row.id)
    for name, ids in (("got no reply", unanswered), ("got more than one reply", answered_twice),
                      ("have a reply that did not reach the gateway once", not_at_gateway)):
        if ids:
            problems.append(f"{len(ids)} SMS {name} (e.g. {ids[:5]})")
    strangers = [ref for ref in at_gateway if ref not in known_refs]
    if strangers:
        problems.append(f"{len(strangers)} send(s) at the gateway the outbox does not know (e.g. {strangers[:3]})")
    campaign_rows = [row for row in outbound if row.campaign_batch_id is not None]
    statuses = Counter(row.status for row in campaign_rows)
    cancelled = Counter(row.last_error or "no reason" for row in campaign_rows if row.status == "CANCELLED")
    if campaign.get("status") != 200 or batches != 1:
        problems.append(f"the campaign batch: HTTP {campaign.get('status')}, {batches} batch row(s)")
    accepted = (campaign.get("answer") or {}).get("accepted") if isinstance(campaign.get("answer"), dict) else None
    if len(campaign_rows) != recipients or accepted not in (None, recipients):
        problems.append(f"{len(campaign_rows)} campaign rows for {recipients} recipients (accepted {accepted})")
    for row in campaign_rows:
        sent = at_gateway[f"roko-out-{row.id}"]
        if row.status in SENT_ONCE and sent != 1 or row.status == "CANCELLED" and sent != 0:
            problems.append(f"campaign message {row.id} {row.status} reached the gateway {sent} time(s)")
            break
    not_done = {s: n for s, n in statuses.items() if s not in SENT_ONCE and s != "CANCELLED"}
    if not_done:
        problems.append(f"campaign messages neither sent nor cancelled: {not_done}")
    if "no reason" in cancelled:
        problems.append(f"{cancelled['no reason']} campaign message(s) cancelled without a reason")
    dlr_posts, dlr_bad = 0, Counter()
    for line in simulator_log.read_text(errors="replace").splitlines():
        if "delivery reports: " in line and " posted -> " in line:
            dlr_posts += 1
            status = line.rsplit("-> ", 1)[1].strip()
            if status != "200":
                dlr_bad[status] += 1
    if dlr_bad:
        problems.append(f"delivery report posts not answered 200: {dict(dlr_bad)}")
    client_5xx = Counter(c.route for c in record.calls if c.status >= 500 or c.status == 0)
    if client_5xx:
        problems.append(f"5xx or no answer on our requests: {dict(client_5xx)}")
    return problems, {
        "inbound_stored": len(inbound), "inbound_outcomes": dict(Counter(row.outcome or "none" for row in inbound)),
        "replies": sum(len(v) for v in replies.values()), "campaign_rows": len(campaign_rows),
        "campaign_statuses": dict(statuses), "campaign_cancelled_reasons": dict(cancelled),
        "gateway_sends": len(sends), "gateway_duplicates": duplicates, "dlr_posts": dlr_posts,
        "client_5xx": dict(client_5xx),
    }


def check_optimove(database_url: str, calls: list[dict[str, Any]], replies: int,
                   failures_left: int) -> tuple[list[str], dict[str, Any]]:
    """What Optimove was told; (problems, figures)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            reports = {f"dlr:{message_id}:{reported}" for message_id, reported in conn.execute(text(FINAL_REPORT))}
            forwarded = {f"mo:{sms_id}" for (sms_id,) in conn.execute(text(FORWARDED))}
            states = dict(conn.execute(text("SELECT state, count(*) FROM optimove_callback GROUP BY state")).all())
            retried = conn.execute(text("SELECT count(*) FROM optimove_callback WHERE attempts > 1")).scalar_one()
    finally:
        engine.dispose()
    problems = []
    got = {kind: Counter(call["idempotency_key"] for call in calls if call["kind"] == kind)
           for kind in ("delivery-report", "incoming-message")}
    for kind, expected in (("delivery-report", reports), ("incoming-message", forwarded)):
        twice = [key for key, n in got[kind].items() if n > 1]
        missing = sorted(expected - set(got[kind]))
        if twice:
            problems.append(f"Optimove got {len(twice)} {kind} key(s) more than once (e.g. {twice[:3]})")
        if missing:
            problems.append(f"Optimove never got {len(missing)} {kind}(s) (e.g. {missing[:3]})")
    stray = [key for key in got["delivery-report"] if key.startswith("dlr:") and key not in reports
             and key.rsplit(":", 1)[1] != "UNREPORTED"]  # a message may leave UNREPORTED later (a late report)
    if stray:
        problems.append(f"Optimove got delivery reports no campaign message's status explains (e.g. {stray[:3]})")
    if set(got["incoming-message"]) - forwarded:
        problems.append(f"Optimove got incoming messages that are not campaign replies: "
                        f"{sorted(set(got['incoming-message']) - forwarded)[:3]}")
    texts = Counter(call["body"]["messages"][0]["message"] for call in calls if call["kind"] == "incoming-message")
    if set(texts) - {REPLY_TEXT}:
        problems.append(f"forwarded replies changed on the way: {dict(texts)}")
    if replies and not forwarded:
        problems.append(f"{replies} campaign replies posted, none to forward (the batch came after them?)")
    if set(states) - {"SENT"}:
        problems.append(f"Optimove callbacks not delivered: {states}")
    if failures_left < OPTIMOVE_FAILURES and not retried:
        problems.append("Optimove refused calls (the outage) and no callback was retried")
    return problems, {"optimove_delivery_reports": sum(got["delivery-report"].values()),
                      "optimove_incoming_messages": sum(got["incoming-message"].values()),
                      "optimove_callbacks": states, "optimove_retried": retried,
                      "optimove_503_answered": OPTIMOVE_FAILURES - failures_left, "campaign_replies_posted": replies}


# --------------------------------------------------------------------------- figures


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def client_routes(record: Record) -> dict[str, dict[str, float]]:
    by_route: dict[str, list[Call]] = defaultdict(list)
    for call in record.calls:
        by_route[call.route].append(call)
    return {route: {"count": len(calls), "p50_ms": 1000 * percentile([c.seconds for c in calls], 50),
                    "p99_ms": 1000 * percentile([c.seconds for c in calls], 99),
                    "max_ms": 1000 * max(c.seconds for c in calls),
                    "non_2xx_3xx": sum(1 for c in calls if not 200 <= c.status < 400)}
            for route, calls in sorted(by_route.items())}


def server_routes(metrics_text: str) -> dict[str, dict[str, float]]:
    """p50/p99 per route from the server's histogram (interpolated within buckets, as
    Prometheus' histogram_quantile does), and the 5xx count."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "roko_http_request_duration_seconds":
            continue
        for s in family.samples:
            key = f"{s.labels.get('method')} {s.labels.get('route')}"
            if s.name.endswith("_bucket"):
                buckets[key][float(s.labels["le"])] += s.value
            elif s.name.endswith("_count"):
                counts[key] += s.value
                if s.labels.get("status", "").startswith("5"):
                    errors[key] += s.value
    out = {}
    for key, cumulative in sorted(buckets.items()):
        bounds = sorted(cumulative)
        n = counts[key]

        def quantile(q: float, bounds: list[float] = bounds, cumulative: dict[float, float] = cumulative,
                     n: float = n) -> float:
            rank, lower, below = q * n, 0.0, 0.0
            for bound in bounds:
                if cumulative[bound] >= rank:
                    if bound == float("inf"):
                        return lower
                    inside = cumulative[bound] - below
                    return lower + (bound - lower) * ((rank - below) / inside if inside else 0)
                lower, below = bound, cumulative[bound]
            return lower

        out[key] = {"count": n, "p50_ms": 1000 * quantile(0.5), "p99_ms": 1000 * quantile(0.99), "5xx": errors[key]}
    return out


def memory(record: Record) -> dict[str, dict[str, float]]:
    if not record.samples:
        return {}
    first, last = record.samples[0], record.samples[-1]
    minute = next((s for s in record.samples if s["t"] >= 60), last)
    return {name: {"start_mb": first["rss_kb"].get(name, 0) / 1024, "after_1_min_mb": minute["rss_kb"].get(name, 0) / 1024,
                   "end_mb": last["rss_kb"].get(name, 0) / 1024} for name in first["rss_kb"]}


def draw(record: Record, load_seconds: float, recipients: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = record.samples
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    ts = [s["t"] for s in samples]
    for key, label in (("inbound_stored", "inbound SMS stored/s"), ("classified", "SMS classified/s"),
                       ("sent", "messages sent/s (replies + campaign)"), ("delivery_reports", "delivery reports/s")):
        rates = [(b[key] - a[key]) / (b["t"] - a["t"]) for a, b in zip(samples, samples[1:], strict=False)]
        top.plot(ts[1:], rates, label=label)
    top.set_ylabel("per second")
    top.set_title("Throughput (from /metrics counters, every process)")
    top.legend(loc="upper right", fontsize=8)
    window = 10.0
    for route, colour in (("POST inbound", "tab:blue"), ("GET dashboard", "tab:green"), ("GET entries", "tab:orange"),
                          ("GET farmer", "tab:purple")):
        calls = [c for c in record.calls if c.route == route]
        edges = [i * window for i in range(int(max((c.started for c in calls), default=0) // window) + 1)]
        mids, p50, p99 = [], [], []
        for edge in edges:
            inside = [c.seconds * 1000 for c in calls if edge <= c.started < edge + window]
            if inside:
                mids.append(edge + window / 2)
                p50.append(percentile(inside, 50))
                p99.append(percentile(inside, 99))
        middle.plot(mids, p50, color=colour, label=f"{route} p50")
        if route == "POST inbound":
            middle.plot(mids, p99, color=colour, linestyle="--", label=f"{route} p99")
    for call in record.calls:
        if call.route == "POST optimove campaign":
            middle.axvline(call.started, color="grey", linestyle=":",
                           label=f"{recipients:,}-recipient batch posted (answered in {call.seconds:.1f} s)")
    middle.set_yscale("log")
    middle.set_ylabel("ms (log)")
    middle.set_title("Latency seen by the client, 10 s windows")
    middle.legend(loc="upper right", fontsize=8)
    bottom.plot(ts, [s["queued_bulk"] for s in samples], label="campaign messages queued (priority 0)")
    bottom.plot(ts, [s["queued_replies"] for s in samples], label="replies queued (priority 10)")
    bottom.set_ylabel("messages")
    ages = bottom.twinx()
    ages.plot(ts, [s["oldest_due_reply_s"] for s in samples], color="tab:red", linestyle="--",
              label="oldest due reply, s")
    ages.plot(ts, [s["classification_lag_s"] for s in samples], color="tab:brown", linestyle=":",
              label="classification lag, s")
    ages.set_ylabel("seconds")
    bottom.axvline(load_seconds, color="black", linewidth=0.8)
    bottom.set_xlabel("seconds since the load started (vertical line: load stops)")
    bottom.set_title("Queue depth and ages (from /metrics)")
    lines = bottom.get_legend_handles_labels()[0] + ages.get_legend_handles_labels()[0]
    labels = bottom.get_legend_handles_labels()[1] + ages.get_legend_handles_labels()[1]
    bottom.legend(lines, labels, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of load (10)")
    parser.add_argument("--rate", type=float, default=20.0, help="inbound SMS per second (20)")
    parser.add_argument("--recipients", type=int, default=20_000, help="recipients of the Optimove batch (20,000)")
    parser.add_argument("--rate-per-port", type=float, default=60.0,
                        help="TOPAZ_RATE_PER_PORT: messages per second on the send port, shared (60)")
    parser.add_argument("--post-threads", type=int, default=16, help="threads posting the inbound SMS on "
                        "schedule (16: a loaded machine answers slowly, and 4 threads fall behind 20/s)")
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="/metrics and RSS every (5) s")
    parser.add_argument("--drain-seconds", type=float, default=300.0, help="longest wait after the load (300)")
    parser.add_argument("--chart", type=Path, default=ROOT / "bench" / "soak.png", help="the picture (bench/soak.png)")
    parser.add_argument("--no-chart", action="store_true", help="no picture (no matplotlib needed)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the results JSON and logs")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.rate <= 0 or args.recipients < 1 or args.rate_per_port <= 0:
        parser.error("--minutes, --rate, --recipients and --rate-per-port must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not have_sqlalchemy("soak"):
        return 2
    if not args.no_chart:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            log("matplotlib is missing: `make bench-soak` installs requirements-bench.txt (or pass --no-chart)")
            return 2
    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    logs = args.results / f"soak-{stamp}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = "cd {} && .venv/bin/python bench/soak.py {}".format(ROOT, " ".join(sys.argv[1:] if argv is None else argv))
    info = describe_run(command)
    seconds = args.minutes * 60
    rng = random.Random(args.seed)
    count = int(args.rate * seconds)
    codes = [f"U{n:08d}" for n in rng.sample(range(10**7, 6 * 10**7), count + 100)]
    plan = Plan(random.Random(rng.random()), list(codes), set()).make(count, args.rate)  # it pops the codes it uses
    batch = build_batch(args.recipients, random.Random(args.seed), int(time.time() * 1000))
    replies = campaign_replies(plan, batch)
    ids = Ids()
    for sms in plan:
        sms.gateway_sms_id = ids.take()
    record = Record()
    campaign: dict[str, Any] = {}
    problems: list[str] = []
    figures: dict[str, Any] = {}
    database = ""
    metrics_text = ""
    cpu: dict[str, float] = {}
    exit_codes: list[int | None] = []
    left: dict[str, int] = {}
    load_seconds = drained_at = 0.0
    stack = None
    began = time.monotonic()
    try:
        with migrated_database("postgresql", args.pg_url, "roko-soak-") as url:
            log(f"database migrated after {time.monotonic() - began:.0f} s")
            database = server_version(url)
            import_registry(url, codes)
            create_operator(url)
            log(f"{database}; {len(codes)} codes imported; {count} SMS planned at {args.rate:g}/s, "
                f"{args.recipients} campaign recipients, throttle {args.rate_per_port:g}/s on port {SEND_PORT}")
            stack = Stack(url, logs, args)
            stack.start()
            log(f"started after {time.monotonic() - began:.0f} s")
            pids = stack.pids()
            log("processes: " + ", ".join(f"{name} {pid}" for name, pid in pids.items()))
            stop = threading.Event()
            record.t0 = time.monotonic() + 0.5
            cpu_before, busy_before = process_cpu(list(pids.values())), machine_cpu()[0]
            threads = [
                threading.Thread(target=sampler, args=(stack, args.sample_seconds, stop, record), daemon=True),
                threading.Thread(target=campaign_load, args=(stack, batch, record, campaign), daemon=True),
                threading.Thread(target=optimove_outage, args=(stack, record, 0.4 * seconds, stop), daemon=True),
                threading.Thread(target=console_load, args=(stack.web.base_url, plan, stop, record),
                                 daemon=True),
            ]
            for thread in threads:
                thread.start()
            inbound_load(stack.web.port, stack.token, plan, args.rate, args.post_threads, record)
            load_seconds = time.monotonic() - record.t0
            log(f"load done after {load_seconds:.0f} s; draining")
            threads[1].join(timeout=300)
            left = drain(stack, url, args.drain_seconds)
            drained_at = time.monotonic() - record.t0
            log(f"drained at {drained_at:.0f} s" + (f"; left: {left}" if left else ""))
            time.sleep(args.sample_seconds)  # one more sample of the drained queue
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            cpu = {"ours_cores": (process_cpu(list(stack.pids().values())) - cpu_before) / drained_at,
                   "machine_busy_cores": (machine_cpu()[0] - busy_before) / drained_at}
            cpu["other_busy_cores"] = cpu["machine_busy_cores"] - cpu["ours_cores"]
            status, body = request(stack.web.port, "GET", "/metrics")
            metrics_text = body.decode() if status == 200 else ""
            exit_codes = stack.stop_workers()
            if left:
                problems.append(f"not drained after {args.drain_seconds:g} s: {left}")
            if any(code != 0 for code in exit_codes):
                problems.append(f"the workers exited with {exit_codes} after SIGTERM")
            problems += record.errors[:20]
            sends = stack.simulator.sends()  # type: ignore[union-attr]
            more, figures = check(url, plan, sends, stack.simulator.log_path, campaign,  # type: ignore[union-attr]
                                  args.recipients, record)
            problems += more
            more, optimove_figures = check_optimove(
                url, stack.optimove.simulator.calls(), replies,  # type: ignore[union-attr]
                stack.optimove.simulator.failures_left)  # type: ignore[union-attr]
            problems += more
            figures.update(optimove_figures)
            stack.stop()
            stack = None
    except (BenchError, subprocess.TimeoutExpired, OSError) as exc:
        problems.append(f"the run failed: {exc}")
    finally:
        if stack is not None:
            stack.stop()
    server = server_routes(metrics_text) if metrics_text else {}
    server_5xx = sum(row["5xx"] for row in server.values())
    if server_5xx:
        problems.append(f"the server counted {server_5xx:g} 5xx answers")
    result = {
        "command": command, "started": started_at.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"), "machine": info, "database": database,
        "settings": {**{k: str(v) for k, v in vars(args).items()}, "gunicorn": "gunicorn.conf.py, -w 2 -k sync",
                     "workers": "2 x flask roko worker (classify + send, 4 sending threads)"},
        "load_seconds": load_seconds, "inbound_rate": len(plan) / load_seconds if load_seconds else 0.0,
        "drained_at_s": drained_at, "left": left, "worker_exit_codes": exit_codes,
        "campaign": {k: v for k, v in campaign.items() if k != "answer"} | {
            "accepted": campaign.get("answer", {}).get("accepted") if isinstance(campaign.get("answer"), dict) else None},
        "client_routes": client_routes(record) if record.calls else {}, "server_routes": server,
        "memory": memory(record), "cpu": cpu, "checks": figures, "problems": problems,
        "samples": record.samples, "loadavg_end": os.getloadavg(), "code": code_version(),
    }
    report(result)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"soak-{stamp}.json"
    out.write_text(json.dumps(result, indent=1, default=str))
    log(f"results: {out}")
    if not args.no_chart and record.samples:
        draw(record, load_seconds, args.recipients, args.chart)
        log(f"picture: {args.chart}")
    log(f"{time.monotonic() - began:.0f} s in all")
    log("every check passed" if not problems else f"{len(problems)} problem(s)")
    return 0 if not problems else 2


def report(result: dict[str, Any]) -> None:
    log(f"\nload {result['load_seconds']:.0f} s (inbound {result['inbound_rate']:.1f} SMS/s), "
        f"drained at {result['drained_at_s']:.0f} s; "
        f"campaign batch HTTP {result['campaign'].get('status')} in {result['campaign'].get('seconds', 0):.2f} s, "
        f"accepted {result['campaign'].get('accepted')}")
    log(f"{'client side':<34}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'not 2xx/3xx':>12}")
    for route, row in result["client_routes"].items():
        log(f"  {route:<32}{row['count']:>7}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['max_ms']:>9.1f}"
            f"{row['non_2xx_3xx']:>12}")
    log(f"{'server histogram':<50}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}{'5xx':>5}")
    for route, row in result["server_routes"].items():
        log(f"  {route:<48}{row['count']:>7.0f}{row['p50_ms']:>9.1f}{row['p99_ms']:>9.1f}{row['5xx']:>5.0f}")
    log("memory (RSS MB): " + "; ".join(f"{name} {m['start_mb']:.0f} -> {m['after_1_min_mb']:.0f} -> {m['end_mb']:.0f}"
                                        for name, m in result["memory"].items()))
    if result["samples"]:
        peak = max(result["samples"], key=lambda s: s["queued_bulk"] + s["queued_replies"])
        log(f"queues: peak {peak['queued_bulk']:.0f} campaign + {peak['queued_replies']:.0f} replies queued at "
            f"{peak['t']:.0f} s; oldest due reply max {max(s['oldest_due_reply_s'] for s in result['samples']):.1f} s; "
            f"classification lag max {max(s['classification_lag_s'] for s in result['samples']):.1f} s")
    if result["cpu"]:
        log(f"cpu: ours {result['cpu']['ours_cores']:.2f} cores, everything else {result['cpu']['other_busy_cores']:.2f}")
    log(f"checks: {json.dumps(result['checks'])}")
    for problem in result["problems"]:
        log(f"PROBLEM: {problem}")


if __name__ == "__main__":
    sys.exit(main())
