"""SQLite: the processes storing inbound SMS take turns on a file lock (``inbound_turn``,
docs/adr/0003), so that a webhook request waits in the kernel, not in SQLite's busy
handler. On PostgreSQL the insert runs in autocommit instead.

The SQLite tests run on a SQLite file of their own in both suite runs: the embedded
default is SQLite whatever backend the rest of the suite uses.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, func, select

from roko_app import create_app
from roko_app.database import sqlite as sqlite_wiring
from roko_app.database.sqlite import inbound_turn, inbound_turn_path
from roko_app.extensions import db
from roko_app.models import InboundSms
from tests.helpers import base_config, text_in

#: Long enough for a request that does not wait to have finished many times over.
SETTLE = 0.5


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Any]:
    app = create_app(base_config(f"sqlite:///{tmp_path / 'turns.db'}"))
    with app.app_context():
        upgrade()
    yield app
    app.extensions["topaz"].close()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def stored(app: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(InboundSms)))


def held_elsewhere(path: str) -> int:
    """The turn held through a descriptor of its own, as another process would hold it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def release(descriptor: int) -> None:
    fcntl.flock(descriptor, fcntl.LOCK_UN)
    os.close(descriptor)


def held(path: str) -> bool:
    """Whether the turn is held, as another process would find (closing releases a lock taken here)."""
    descriptor = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_the_turn_is_a_file_beside_a_sqlite_database_and_nothing_elsewhere(tmp_path: Path) -> None:
    on_file = create_engine(f"sqlite:///{tmp_path / 'roko.db'}")
    assert inbound_turn_path(on_file) == str(tmp_path / "roko.db") + ".inbound-lock"
    for url in ("sqlite://", "sqlite:///:memory:", "postgresql+psycopg://postgres@127.0.0.1:5432/roko"):
        engine = create_engine(url)
        assert inbound_turn_path(engine) is None
        with inbound_turn(engine):  # nothing to take, nothing created
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_webhook_request_waits_for_the_turn_then_stores(sqlite_app: Any) -> None:
    with sqlite_app.app_context():
        path = inbound_turn_path(db.engine)
    assert path is not None
    descriptor = held_elsewhere(path)
    answered: dict[str, int] = {}
    request = threading.Thread(target=lambda: answered.setdefault("sms_id", text_in(sqlite_app, "ROKO U1", classify=False)))
    try:
        request.start()
        request.join(SETTLE)
        assert request.is_alive(), "the request stored its SMS while another process held the turn"
        assert stored(sqlite_app) == 0
    finally:
        release(descriptor)
        request.join(30)
    assert not request.is_alive() and answered["sms_id"] > 0
    assert stored(sqlite_app) == 1


def test_a_turn_that_cannot_be_opened_is_logged_once_and_the_sms_are_still_stored(
        sqlite_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The turn only saves time: a lock file the process cannot open (here a folder in its
    place) must not cost a single SMS."""
    with sqlite_app.app_context():
        path = inbound_turn_path(db.engine)
    os.mkdir(path)
    with caplog.at_level(logging.WARNING, logger="roko_app.database.sqlite"):
        text_in(sqlite_app, "ROKO U1", classify=False)
        text_in(sqlite_app, "ROKO U2", classify=False)
    assert stored(sqlite_app) == 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "roko_app.database.sqlite"]
    assert len(warnings) == 1 and "without taking turns" in warnings[0]



def test_a_file_system_without_locks_is_logged_once_and_the_turn_is_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'nolocks.db'}")

    def no_locks(_descriptor: int, _operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(sqlite_wiring.fcntl, "flock", no_locks)
    with caplog.at_level(logging.WARNING, logger="roko_app.database.sqlite"):
        for _ in range(3):
            with inbound_turn(engine):
                pass
    warnings = [r.getMessage() for r in caplog.records if r.name == "roko_app.database.sqlite"]
    assert len(warnings) == 1 and "without taking turns" in warnings[0]


def test_the_turn_is_held_for_the_insert_and_its_commit_and_released(sqlite_app: Any) -> None:
    with sqlite_app.app_context():
        engine = db.engine
        path = inbound_turn_path(engine)
    seen: list[str] = []

    def probe(name: str) -> Any:
        def listener(*_args: Any) -> None:
            seen.append(f"{name}: {'held' if held(path) else 'free'}")
        return listener

    insert, commit = probe("insert"), probe("commit")
    event.listen(engine, "before_cursor_execute", insert)
    event.listen(engine, "commit", commit)
    try:
        text_in(sqlite_app, "ROKO U1", classify=False)
    finally:
        event.remove(engine, "before_cursor_execute", insert)
        event.remove(engine, "commit", commit)
    assert seen == ["insert: held", "commit: held"]
    assert not held(path)


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    """The threads share the process's descriptor, on which ``flock`` alone would let them
    all in: a thread lock orders them."""
    engine = create_engine(f"sqlite:///{tmp_path / 'threads.db'}")
    inside, entered, leave = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with inbound_turn(engine):
            inside.set()
            leave.wait(30)

    def second() -> None:
        with inbound_turn(engine):
            entered.set()

    holder, waiter = threading.Thread(target=first), threading.Thread(target=second)
    holder.start()
    assert inside.wait(30)
    waiter.start()
    try:
        assert not entered.wait(SETTLE), "a second thread took the turn while the first held it"
    finally:
        leave.set()
        holder.join(30)
        waiter.join(30)
    assert entered.is_set()


def _child_takes_the_turn(url: str, report: Any) -> None:
    engine = create_engine(url)
    with inbound_turn(engine):
        report.send("in")


def test_a_forked_process_waits_for_its_parents_turn(tmp_path: Path) -> None:
    """gunicorn forks its workers: a child must not inherit the parent's descriptor, on which
    it would share the parent's lock (nor its thread lock, held at the fork)."""
    url = f"sqlite:///{tmp_path / 'fork.db'}"
    engine = create_engine(url)
    receiver, sender = multiprocessing.Pipe(duplex=False)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_child_takes_the_turn, args=(url, sender))
    try:
        with inbound_turn(engine):  # the parent holds its turn while it forks
            child.start()
            assert not receiver.poll(SETTLE), "the child took the turn the parent held"
        assert receiver.poll(30) and receiver.recv() == "in", "the child never took the turn"
        child.join(30)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            child.kill()
            child.join(30)


@pytest.mark.postgres_only
def test_on_postgresql_the_insert_is_a_transaction_of_its_own(app: Any) -> None:
    """Autocommit: the insert, the number's lock and the notice are one statement and one
    round trip, with no BEGIN or COMMIT around them."""
    with app.app_context():
        engine = db.engine
    modes: list[bool] = []

    def seen(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "INSERT INTO inbound_sms" in statement:
            modes.append(connection.connection.driver_connection.autocommit)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        text_in(app, "ROKO U1", classify=False)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert modes == [True]
    with app.app_context(), db.engine.connect() as connection:  # the pool gets its mode back
        assert connection.connection.driver_connection.autocommit is False
    assert stored(app) == 1
