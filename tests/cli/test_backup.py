"""``flask roko backup --out FILE`` (issue 15, item 4): a consistent online copy of the
SQLite database while another connection keeps writing, a restore that starts with every
row intact, no overwrite without --force, and PostgreSQL pointed at pg_dump.

These tests run on SQLite files of their own (migrated once per module), whatever
backend the rest of the suite uses."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from roko_app import create_app
from roko_app.extensions import db
from roko_app.models import InboundSms, OutboundSms
from tests.helpers import base_config, text_in

BATCH = 10  # rows per transaction of the concurrent writer


@pytest.fixture(scope="module")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated SQLite database, copied by each test."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("backup") / "template.db"
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def sqlite_app(migrated_file: Path, tmp_path: Path) -> Iterator[Any]:
    path = tmp_path / "live.db"
    shutil.copy(migrated_file, path)
    app = create_app(base_config(f"sqlite:///{path}"))
    yield app
    app.extensions["topaz"].close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def backup(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["roko", "backup", *args])


def rows_of(app: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the tables are small here), in primary-key order."""
    with app.app_context():
        tables = {table.name: table for table in db.metadata.sorted_tables}
        found = {name: [tuple(row) for row in db.session.execute(select(table).order_by(*table.primary_key.columns))]
                 for name, table in tables.items()}
        found["alembic_version"] = [tuple(row) for row in db.session.execute(text("SELECT version_num FROM alembic_version"))]
        db.session.remove()
        db.engine.dispose()
    return found


def test_a_restored_copy_starts_with_every_row_intact(sqlite_app: Any, tmp_path: Path) -> None:
    for i, body in enumerate(["ROKO U12345678", "ROKO U99999999", "bonjour"]):
        text_in(sqlite_app, body, sender=f"62000000{i}")
    original = rows_of(sqlite_app)
    assert len(original["inbound_sms"]) == 3 and len(original["entry"]) == 3 and len(original["outbound_sms"]) == 3

    out = tmp_path / "copy.db"
    result = backup(sqlite_app, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("backup: ") and str(out) in result.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "the copy holds farmers' numbers: owner only"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []

    restored_path = tmp_path / "restored" / "roko.db"  # the drill: copy back, start the app on it
    restored_path.parent.mkdir()
    shutil.copy(out, restored_path)
    restored = create_app(base_config(f"sqlite:///{restored_path}"))
    assert restored.test_client().get("/readyz").status_code == 200
    with restored.app_context():
        sms = db.session.scalars(select(InboundSms).order_by(InboundSms.id)).all()
        assert [(s.sender, s.text) for s in sms] == [("620000000", "ROKO U12345678"), ("620000001", "ROKO U99999999"),
                                                     ("620000002", "bonjour")]
        assert db.session.scalar(select(func.count()).select_from(OutboundSms).where(
            OutboundSms.reply_to_sms_id == sms[0].id)) == 1
    assert rows_of(restored) == original
    restored.extensions["topaz"].close()


def test_the_copy_is_one_consistent_snapshot_while_another_connection_writes(sqlite_app: Any, tmp_path: Path) -> None:
    url = sqlite_app.config["SQLALCHEMY_DATABASE_URI"]
    padding = "x" * 1500  # a database of some megabytes, so the copy takes a while
    now = datetime.now(UTC)

    def rows(start: int, count: int) -> list[dict[str, Any]]:
        return [{"gateway_sms_id": start + i, "port": 1, "sender": "620000000", "sender_msisdn": "620000000",
                 "text": padding, "gateway_timestamp": now, "received_at": now, "source": "topaz"}
                for i in range(count)]

    engine = create_engine(url, connect_args={"timeout": 30})
    with engine.begin() as conn:
        conn.execute(insert(InboundSms), rows(0, 5000))
    stop = threading.Event()
    commits: list[float] = []

    def write() -> None:
        next_id = 1_000_000
        while not stop.is_set():
            with engine.begin() as conn:  # BATCH rows per transaction: all or none
                conn.execute(insert(InboundSms), rows(next_id, BATCH))
            commits.append(time.monotonic())
            next_id += BATCH

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(commits) < 5:
            time.sleep(0.01)
        started = time.monotonic()
        result = backup(sqlite_app, "--out", str(tmp_path / "copy.db"))
        ended = time.monotonic()
        committed_before, committed_after = len([t for t in commits if t < started]), len(commits)
        while len(commits) < committed_after + 5:  # the writer was never held up
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join(timeout=30)
        engine.dispose()
    assert result.exit_code == 0, result.output
    assert any(started < t < ended for t in commits), "the writer committed while the copy was taken"
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        (copied,) = copy.execute("SELECT count(*) FROM inbound_sms").fetchone()
        (check,) = copy.execute("PRAGMA integrity_check").fetchone()
    copy.close()
    assert check == "ok"
    assert (copied - 5000) % BATCH == 0, "no transaction is half in the copy"
    assert committed_before * BATCH <= copied - 5000 <= committed_after * BATCH


def test_an_existing_file_is_kept_unless_force(sqlite_app: Any, tmp_path: Path) -> None:
    out = tmp_path / "copy.db"
    out.write_bytes(b"yesterday's backup")
    result = backup(sqlite_app, "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"Error: {out} exists already; choose another --out, or add "
                                                  "--force to replace it."]
    assert out.read_bytes() == b"yesterday's backup"

    result = backup(sqlite_app, "--out", str(out), "--force")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(out) as copy:
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    copy.close()


def test_a_missing_folder_is_refused(sqlite_app: Any, tmp_path: Path) -> None:
    result = backup(sqlite_app, "--out", str(tmp_path / "nowhere" / "copy.db"))
    assert result.exit_code == 1 and "is not a folder" in result.stderr


def test_postgresql_is_pointed_at_pg_dump(tmp_path: Path) -> None:
    # Port 9 (discard): nothing answers; the command must refuse before connecting.
    app = create_app(base_config("postgresql+psycopg://roko@127.0.0.1:9/roko"))
    result = backup(app, "--out", str(tmp_path / "copy.db"))
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert "postgresql" in line and "pg_dump" in line
    assert result.stdout == "" and not (tmp_path / "copy.db").exists()
    app.extensions["topaz"].close()
