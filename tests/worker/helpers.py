"""Shared helpers of the worker tests: queueing rows, running a worker, reading the outbox."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import OutboundSms, OutboundStatus, Priority
from roko_app.worker import Worker, WorkerStats
from tests.conftest import ROOT, SIM_TOKEN

TEXT = "Merci pour votre participation ROKO."


def worker_config(simulator: Any, **extra: Any) -> dict[str, Any]:
    """App config for a worker against ``simulator``: short gateway timeouts, throttle off."""
    return {"TOPAZ_URL": simulator.url, "TOPAZ_TOKEN": SIM_TOKEN, "TOPAZ_SEND_PORT": 17,
            "TOPAZ_CONNECT_TIMEOUT": 0.5, "TOPAZ_READ_TIMEOUT": 0.5, "TOPAZ_RATE_PER_PORT": 0, **extra}


def bulk_queue(app: Any, count: int = 1, *, priority: int = Priority.BULK, port: int = 17,
               not_before: datetime | None = None, now: datetime | None = None) -> list[int]:
    """Insert ``count`` QUEUED rows in one statement (as a campaign would); their ids."""
    now = now or utcnow()
    due = max(not_before, now) if not_before else now
    rows = [{"to_msisdn": f"62{i:07d}", "text": f"{TEXT} {i}", "encoding": "GSM-7", "units": 40,
             "status": OutboundStatus.QUEUED, "priority": priority, "port": port, "template_key": "BULK",
             "caller": "test", "attempts": 0, "not_before": not_before, "next_attempt_at": due,
             "created_at": now, "updated_at": now} for i in range(count)]
    with app.app_context():
        ids = list(db.session.scalars(insert(OutboundSms).returning(OutboundSms.id, sort_by_parameter_order=True),
                                      rows))
        db.session.commit()
    return ids


def outbox(app: Any) -> list[OutboundSms]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))
        db.session.expunge_all()
        db.session.commit()
        return rows


def count_status(app: Any, status: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(OutboundSms).where(OutboundSms.status == status))
        db.session.commit()
        return int(count or 0)


def run_once(app: Any, **options: Any) -> WorkerStats:
    """One ``--once`` pass in this process."""
    with app.app_context():
        return Worker.from_app(app, **options).run(once=True)


def refs(ids: list[int]) -> list[str]:
    return [f"roko-out-{i}" for i in ids]


def sent_refs(simulator: Any) -> list[str]:
    return [message["client_ref"] for message in simulator.sent()]


def worker_process(app: Any, simulator: Any, *args: str, log_path: Path, **env: str) -> subprocess.Popen[str]:
    """``python -m flask --app wsgi roko worker ARGS`` on the test database; INFO log to ``log_path``."""
    full_env = {**os.environ, "ROKO_ENV": "test", "ROKO_DATABASE_URL": app.config["DATABASE_URL"],
                "ROKO_TOPAZ_URL": simulator.url, "ROKO_TOPAZ_TOKEN": SIM_TOKEN, "ROKO_TOPAZ_RATE_PER_PORT": "0",
                "ROKO_TOPAZ_CONNECT_TIMEOUT": "0.5", "ROKO_TOPAZ_READ_TIMEOUT": "1.0",
                "ROKO_RATELIMIT_STORAGE_URI": "memory://", "ROKO_LOG_LEVEL": "INFO", **env}
    with open(log_path, "a") as log_file:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker", *args],
                                cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=log_file, text=True)
