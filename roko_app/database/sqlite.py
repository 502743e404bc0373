"""Database wiring that depends on the backend (SQLite pragmas, write locks)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: writers there wait in SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import event
from sqlalchemy.engine import Engine


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


# --- SQLite: the webhook's writers queue for the write lock (docs/adr/0002) ---------------


@dataclass
class _LockFile:
    pid: int  # the process that opened it: a child of a fork opens its own
    fd: int
    threads: threading.Lock  # flock does not exclude the threads of one process


_lock_files: dict[str, _LockFile] = {}
_lock_files_guard = threading.Lock()


@contextlib.contextmanager
def queued_write(engine: Any) -> Iterator[None]:
    """Run the block (one short write transaction) as the only writer among those that
    queue here, on a file-based SQLite database: an exclusive ``flock`` on
    ``<database>.write-lock``, taken before the transaction and released after it ends.

    The web processes storing inbound SMS then wait for each other in the kernel, which
    wakes the next one as the lock is released, rather than in SQLite's busy handler,
    which sleeps 1 ms or more between tries while the lock is held for a fraction of
    that. Writers that do not queue (the worker) still meet SQLite's own lock and its
    busy handler. A no-op on PostgreSQL, on ``:memory:`` and where there is no
    ``fcntl``."""
    lock = _lock_file(engine)
    if lock is None:
        yield
        return
    with lock.threads:
        fcntl.flock(lock.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fd, fcntl.LOCK_UN)


def _lock_file(engine: Any) -> _LockFile | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or fcntl is None or not database or database == ":memory:" \
            or database.startswith("file:"):
        return None
    path = os.path.abspath(database) + ".write-lock"
    lock = _lock_files.get(path)
    if lock is not None and lock.pid == os.getpid():
        return lock
    with _lock_files_guard:
        lock = _lock_files.get(path)
        if lock is None or lock.pid != os.getpid():
            # A descriptor inherited through a fork shares the parent's lock: not ours to use.
            lock = _LockFile(os.getpid(), os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600),
                             threading.Lock())
            _lock_files[path] = lock
        return lock
