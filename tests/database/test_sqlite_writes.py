"""SQLite's write lock for transactions that read and then write (``begin_write``), and
the queue the webhook's writers take turns in (``queued_write``).

These run on a SQLite file of their own in both suite runs: the embedded default is
SQLite whatever backend the rest of the suite uses.
"""

from __future__ import annotations

import contextlib
import fcntl
import multiprocessing
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from roko_app import create_app
from roko_app.database.sqlite import begin_write, init_database_events, queued_write
from roko_app.extensions import db
from tests.helpers import base_config, body_with, post


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



# --- queued_write: writers queue on a lock file beside the database ----------------------


@contextlib.contextmanager
def lock_held_elsewhere(path: Path) -> Iterator[None]:
    """The queue's lock taken through a descriptor of its own, as another process would."""
    fd = os.open(f"{path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases it


def lock_is_free(path: Path) -> bool:
    fd = os.open(f"{path}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def in_thread(target: Any) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        target()
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_a_queued_writer_waits_while_another_process_holds_the_queue(database: Any) -> None:
    sessions, path = database
    engine = sessions.kw["bind"]
    entered = threading.Event()

    def write() -> None:
        with queued_write(engine):
            entered.set()

    with lock_held_elsewhere(path):
        thread, _done = in_thread(write)
        assert not entered.wait(0.3), "entered while another process held the queue"
    assert entered.wait(10), "not woken when the queue was released"
    thread.join(10)
    assert lock_is_free(path)


def test_the_queue_is_held_for_the_block_and_released_when_it_raises(database: Any) -> None:
    sessions, path = database
    engine = sessions.kw["bind"]
    with pytest.raises(RuntimeError), queued_write(engine):
        assert not lock_is_free(path)
        raise RuntimeError("the transaction failed")
    assert lock_is_free(path)


def test_threads_of_one_process_queue_too(database: Any) -> None:
    """flock does not exclude two threads sharing a descriptor: the queue must."""
    sessions, _path = database
    engine = sessions.kw["bind"]
    inside, leave, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with queued_write(engine):
            inside.set()
            leave.wait(10)

    def second() -> None:
        with queued_write(engine):
            second_in.set()

    first_thread, _ = in_thread(first)
    assert inside.wait(10)
    second_thread, _ = in_thread(second)
    assert not second_in.wait(0.3), "a second thread entered while the first held the queue"
    leave.set()
    assert second_in.wait(10)
    first_thread.join(10)
    second_thread.join(10)


def _write_in_child(engine: Any, entered: Any) -> None:
    with queued_write(engine):
        entered.set()


def test_a_forked_child_queues_behind_its_parent(database: Any) -> None:
    """A descriptor inherited through fork shares the parent's flock, so it would let parent
    and child in together (gunicorn forks its workers): the child must open its own."""
    sessions, _path = database
    engine = sessions.kw["bind"]
    fork = multiprocessing.get_context("fork")
    entered = fork.Event()
    with queued_write(engine):  # the parent has opened the lock file, and holds the queue
        child = fork.Process(target=_write_in_child, args=(engine, entered))
        child.start()
        assert not entered.wait(0.5), "the child entered while its parent held the queue"
    assert entered.wait(10), "the child was not woken when its parent released the queue"
    child.join(10)
    assert child.exitcode == 0


def test_an_in_memory_database_has_no_queue() -> None:
    engine = create_engine("sqlite://")
    entered = threading.Event()

    def nested() -> None:
        with queued_write(engine), queued_write(engine):  # would wait for itself if it queued
            entered.set()

    in_thread(nested)
    assert entered.wait(10)
    engine.dispose()


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """The app on a migrated SQLite file of its own (the embedded default), whatever the
    backend of the rest of the run."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("queued") / "roko.db"
    app = create_app(base_config(f"sqlite:///{path}"))
    with app.app_context():
        upgrade()
    yield app, path
    app.extensions["topaz"].close()
    with app.app_context():
        db.engine.dispose()


def test_the_webhook_stores_in_the_queue(sqlite_app: tuple[Any, Path]) -> None:
    app, path = sqlite_app
    client = app.test_client()
    answers: list[int] = []
    with lock_held_elsewhere(path):
        thread, done = in_thread(lambda: answers.append(post(client, body_with(gateway_sms_id=4242)).status_code))
        assert not done.wait(0.3), "the SMS was stored while another writer held the queue"
    assert done.wait(10)
    thread.join(10)
    assert answers == [200]
    assert lock_is_free(path)
