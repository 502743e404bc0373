"""Database wiring that depends on the backend (SQLite pragmas, SQLite writers' turns)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets gunicorn workers read while one writes; the busy timeout (set through
    the driver's ``timeout``) makes writers wait for each other instead of failing."""
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def init_database_events() -> None:
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


# --- SQLite: a transaction that reads and then writes --------------------------------------


def begin_write(session: Any) -> None:
    """SQLite: hold the database's write lock from here to the end of this session's
    transaction, for a job that reads rows and then writes them (a claim), so that no
    other writer commits in between. A no-op on PostgreSQL, whose claims lock the rows
    they read (``FOR UPDATE SKIP LOCKED``).

    The driver (pysqlite) opens a transaction only before a statement that writes: reads
    before it ran outside any transaction. So unless this connection already wrote (it
    then holds the lock), the transaction is opened here with ``BEGIN IMMEDIATE``, which
    waits for the lock in SQLite's busy handler. A transaction that writes first needs
    none of this: its first write takes the lock (docs/adr/0001)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    if not connection.connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- SQLite: the webhook's inserts take turns --------------------------------------------


class _Turn:
    """An exclusive ``flock`` on one file, taken by one thread of this process at a time.

    A ``flock`` belongs to an open file, not to a process or a thread: the threads of a
    process share the descriptor, so a thread lock orders them first; and a child made by
    ``fork`` must open the file anew, or it would share its parent's lock (``_forked``).
    The turn only saves time: if the file cannot be opened or locked (a folder the process
    cannot write to, a file system without locks), that is logged once and the inserts of
    this process go without it, waiting in SQLite's busy handler as every other writer does."""

    __slots__ = ("path", "_descriptor", "_threads", "_unavailable")

    def __init__(self, path: str) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._threads = threading.Lock()
        self._unavailable = False

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._descriptor is None and not self._unavailable:
                self._open()
            if self._descriptor is not None:
                try:
                    fcntl.flock(self._descriptor, fcntl.LOCK_EX)
                except OSError as exc:  # a file system without locks
                    self._give_up(exc)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._descriptor is not None:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _open(self) -> None:
        # Read-only is enough for a flock, so a file another user created stays usable.
        try:
            self._descriptor = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self._close()
        self._unavailable = True
        log.warning("SQLite: cannot lock %s (%s); inbound SMS are stored without taking turns",
                    self.path, exc.strerror)

    def _close(self) -> None:
        if self._descriptor is not None:
            with contextlib.suppress(OSError):
                os.close(self._descriptor)
        self._descriptor = None

    def forget(self) -> None:
        """After a fork: the parent's descriptor and thread lock are not this process's."""
        self._close()
        self._threads = threading.Lock()


_TURNS: dict[str, _Turn] = {}


def _forked() -> None:
    """In a new child process: the parent's descriptors and thread locks are not ours."""
    for turn in _TURNS.values():
        turn.forget()


os.register_at_fork(after_in_child=_forked)


def inbound_turn_path(engine: Engine) -> str | None:
    """The file the webhook's inserts take turns on: beside a file database; none for a
    database in memory or on PostgreSQL."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + ".inbound-lock"


def inbound_turn(engine: Engine) -> contextlib.AbstractContextManager[None]:
    """SQLite: hold the turn of the processes storing inbound SMS for one insert and its
    commit (docs/adr/0003). A writer that finds SQLite's write lock taken sleeps in the
    busy handler for a millisecond or more, several requests' worth; one that waits for
    this file lock is woken by the kernel the moment the lock is released. Other writers
    (the worker, the console) still wait in the busy handler. A no-op elsewhere."""
    path = inbound_turn_path(engine)
    if path is None:
        return contextlib.nullcontext()
    # setdefault is atomic: two threads asking first get the same turn.
    return _TURNS.get(path) or _TURNS.setdefault(path, _Turn(path))
