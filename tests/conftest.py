"""Shared fixtures: a real database per test run, the app, its clients and a live server.

Backend: SQLite (a file in a temporary folder) unless ``ROKO_TEST_DATABASE_URL`` names a
PostgreSQL server; then a dedicated database is created for this run on that server and
dropped at the end. If that server cannot be reached the run errors out: it never
quietly falls back to SQLite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from roko_app import create_app
from roko_app.extensions import db
from roko_app.gateway.simulator import RunningSimulator, start_in_thread
from tests.factories import issue_key
from tests.helpers import IN_CI, ROOT, SIM_TOKEN, WEBHOOK_TOKEN, base_config, free_port, wipe_database


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: needs PostgreSQL (FOR UPDATE SKIP LOCKED and the like)")


def _backend_url() -> str | None:
    url = os.environ.get("ROKO_TEST_DATABASE_URL", "").strip()
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url or None


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres_only") and not (_backend_url() or "").startswith("postgresql"):
        reason = "needs PostgreSQL: set ROKO_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        if IN_CI:
            pytest.fail(f"{reason} (under CI this is an error, not a skip; deselect with -m 'not postgres_only')")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = _backend_url()
    if url is None:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "roko-test.db")
        return
    if not url.startswith("postgresql"):
        raise pytest.UsageError(f"ROKO_TEST_DATABASE_URL must be a PostgreSQL URL, got {url!r}")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"roko_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # fail loudly: a missing server is never a silent skip
        raise RuntimeError(f"cannot create the test database on {make_url(url).render_as_string()}: {exc}") from exc
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(scope="session")
def _migrated(database_url: str) -> str:
    """Create the schema once per run through the real migrations."""
    from flask_migrate import upgrade

    app = create_app(base_config(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture
def make_app(_migrated: str) -> Iterator[Callable[..., Any]]:
    """Build an app on the test database with config overrides; rows are wiped after the test."""
    apps: list[Any] = []

    def factory(**overrides: Any) -> Any:
        app = create_app(base_config(_migrated, **overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["topaz"].close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    if apps:
        wipe_database(apps[0])


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


@pytest.fixture
def live_server(_migrated: str, make_app: Callable[..., Any]) -> Iterator[Callable[..., str]]:
    """Start the real app under gunicorn on a loopback port; returns its base URL."""
    make_app()  # so the rows this server writes are wiped after the test
    processes: list[subprocess.Popen[bytes]] = []

    def start(workers: int = 2, threads: int = 8, stderr: Any = None, **env_overrides: str) -> str:
        port = free_port()
        env = {**os.environ, "ROKO_ENV": "test", "ROKO_DATABASE_URL": _migrated,
               "ROKO_WEBHOOK_INBOUND_TOKEN": WEBHOOK_TOKEN, "ROKO_SECRET_KEY": "test-secret",
               "ROKO_LOG_LEVEL": "WARNING", **env_overrides}
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env, stderr=stderr,
        )
        processes.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            try:
                if requests.get(url + "/healthz", timeout=5).status_code == 200:
                    return url
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start within 30 s")

    yield start
    for proc in processes:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the gateway simulator and API keys ----------------------------------------------

@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    with start_in_thread(token=SIM_TOKEN, seed=1) as sim:
        yield sim


@pytest.fixture
def send_app(make_app: Callable[..., Any], simulator: RunningSimulator) -> Any:
    return make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_SEND_PORT=17,
                    TOPAZ_CONNECT_TIMEOUT=0.5, TOPAZ_READ_TIMEOUT=0.5, TOPAZ_RATE_PER_PORT=0)  # the port's pace: its own test


@pytest.fixture
def api_key(send_app: Any) -> str:
    return issue_key(send_app)
