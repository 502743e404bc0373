"""SQLite's write lock for transactions that read and then write (``begin_write``).

These run on a SQLite file of their own in both suite runs: the embedded default is
SQLite whatever backend the rest of the suite uses.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from roko_app.database.sqlite import begin_write, init_database_events


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    init_database_events()
    path = tmp_path / "writes.db"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 10})
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (1, 0)")
    yield sessionmaker(engine), path
    engine.dispose()


def another_writer_is_locked_out(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return True
    finally:
        other.close()  # closing rolls back what it began
    return False


def test_a_fresh_transaction_holds_the_write_lock_until_it_ends(database: Any) -> None:
    sessions, path = database
    with sessions() as session:
        begin_write(session)
        assert another_writer_is_locked_out(path)
        session.commit()
        assert not another_writer_is_locked_out(path)


def test_after_reads_the_lock_is_taken_before_the_write(database: Any) -> None:
    """The driver runs reads outside a transaction; begin_write must still open one."""
    sessions, path = database
    with sessions() as session:
        assert session.execute(text("SELECT value FROM counter")).scalar() == 0
        assert session.in_transaction()
        begin_write(session)
        assert another_writer_is_locked_out(path)
        session.rollback()
        assert not another_writer_is_locked_out(path)


def test_after_a_write_it_keeps_the_transaction_it_is_in(database: Any) -> None:
    sessions, path = database
    with sessions() as session:
        session.execute(text("UPDATE counter SET value = 5"))
        begin_write(session)  # no second BEGIN: the write already holds the lock
        assert another_writer_is_locked_out(path)
        session.rollback()
        assert session.execute(text("SELECT value FROM counter")).scalar() == 0, "one transaction, rolled back"


def _increment(sessions: Any, times: int, errors: list[BaseException], *, locked: bool) -> None:
    try:
        for _ in range(times):
            with sessions() as session:
                if locked:
                    begin_write(session)
                value = session.execute(text("SELECT value FROM counter")).scalar()
                time.sleep(0.001)  # let the other thread in between the read and the write
                session.execute(text("UPDATE counter SET value = :value"), {"value": value + 1})
                session.commit()
    except BaseException as error:  # noqa: BLE001 - reported by the test
        errors.append(error)


def _run_incrementers(sessions: Any, *, locked: bool) -> tuple[int, list[BaseException]]:
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_increment, args=(sessions, 25, errors), kwargs={"locked": locked})
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with sessions() as session:
        return session.execute(text("SELECT value FROM counter")).scalar(), errors


def test_concurrent_read_then_write_transactions_lose_no_update(database: Any) -> None:
    sessions, _path = database
    value, errors = _run_incrementers(sessions, locked=True)
    assert errors == []
    assert value == 100


def test_without_it_the_same_transactions_lose_updates(database: Any) -> None:
    """The control: the race above is real, so the test above can fail."""
    sessions, _path = database
    value, errors = _run_incrementers(sessions, locked=False)
    assert value < 100 or errors

