"""Database wiring that depends on the backend (SQLite pragmas)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import scoped_session


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


# --- SQLite: one writer at a time, woken at once ------------------------------------------
# SQLite lets one transaction write at a time; a second writer waits in SQLite's busy
# handler, which sleeps in steps of 1 to 100 ms, so under load a request waits far
# longer than the lock is held. Writers on a hot path first take an exclusive flock on
# a file beside the database: the kernel wakes the next writer the moment the lock is
# released (at commit or rollback), so writers queue instead of polling.

_write_lock_state = threading.local()


def sqlite_write_lock(session: Any) -> None:
    """Take the database's write lock for the rest of this session's transaction
    (a no-op except on a file-based SQLite database)."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or getattr(_write_lock_state, "fd", None) is not None:
        return
    if has_app_context() and not current_app.config.get("SQLITE_WRITE_LOCK", True):
        return  # ROKO_SQLITE_WRITE_LOCK=false: SQLite's busy handler alone (docs/adr/0001)
    database = bind.url.database
    if not database or database == ":memory:":
        return
    try:
        fd = os.open(database + ".write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return  # SQLite itself will say what is wrong with the database's folder
    fcntl.flock(fd, fcntl.LOCK_EX)
    _write_lock_state.fd = fd


def begin_write(session: Any) -> None:
    """SQLite: start this session's transaction holding the write lock, for a job that
    reads rows and then writes them (a claim), so that no other writer commits in
    between. Call it first in the transaction; a no-op on PostgreSQL, whose claims lock
    the rows they read (``FOR UPDATE SKIP LOCKED``)."""
    if session.get_bind().dialect.name != "sqlite":
        return
    current = session() if isinstance(session, scoped_session) else session
    fresh = not current.in_transaction()
    connection = current.connection()  # the transaction ends (and the lock goes) with the session's
    sqlite_write_lock(current)
    if fresh:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _release_at_the_end(_session: Any, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction, however it ended (close included)
        _release_write_lock()


def _release_write_lock(*_: Any) -> None:
    fd = getattr(_write_lock_state, "fd", None)
    if fd is not None:
        _write_lock_state.fd = None
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def init_session_events() -> None:
    from sqlalchemy.orm import Session

    for name in ("after_commit", "after_rollback", "after_soft_rollback"):
        if not event.contains(Session, name, _release_write_lock):
            event.listen(Session, name, _release_write_lock)
    if not event.contains(Session, "after_transaction_end", _release_at_the_end):
        event.listen(Session, "after_transaction_end", _release_at_the_end)
