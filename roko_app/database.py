"""Database wiring that depends on the backend (SQLite pragmas)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets gunicorn workers read while one writes; the busy timeout (set through
    the driver's ``timeout``) makes writers wait for each other instead of failing."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def init_database_events() -> None:
    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def insert_for(session: Any, model: Any) -> Any:
    """A dialect-specific ``INSERT`` for ``model`` that supports ``on_conflict_do_nothing``
    (SQLite >= 3.35 and PostgreSQL both speak ``ON CONFLICT ... RETURNING``)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only the two supported backends
        raise RuntimeError(f"unsupported database backend {name!r}")
    return insert(model)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def dialect_insert(dialect: str, table: Any) -> Any:
    """``insert_for`` by dialect name (for statements built once and reused)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover
        raise RuntimeError(f"unsupported database backend {dialect!r}")
    return insert(table)


def statement(connection: Any, name: str, build: Any) -> Any:
    """A Core statement built once per backend and reused: on hot paths, building
    SQLAlchemy statement objects costs more than executing them."""
    key = (connection.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(connection.dialect.name)
    return stmt


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
    database = bind.url.database
    if not database or database == ":memory:":
        return
    try:
        fd = os.open(database + ".write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return  # SQLite itself will say what is wrong with the database's folder
    fcntl.flock(fd, fcntl.LOCK_EX)
    _write_lock_state.fd = fd


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
