"""Database wiring that depends on the backend (SQLite pragmas)."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError


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


# --- Hot-path SQL on the DB-API connection ----------------------------------------------
# Each inbound SMS runs about six statements inside its request. Through SQLAlchemy each
# costs 60-80 us of Python (execution context, result processing) against 10-30 us of
# SQLite's own work, which made the webhook several times slower than its database. The
# few statements of that path are therefore written once as SQL both backends speak
# (``ON CONFLICT`` and ``RETURNING`` included) and run on the DB-API connection of the
# session's own transaction: the view still commits or rolls back through the session.
# They bypass SQLAlchemy's execution events, so ``SQLALCHEMY_ECHO`` does not log them.

_NAMED_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Sql:
    """A statement with ``:name`` parameters, for SQLite (``sqlite3``, which takes
    ``:name``) and PostgreSQL (``psycopg``, which takes ``%(name)s``).

    Whitespace is collapsed and ``:name`` is rewritten everywhere, so the text must not
    hold comments or string literals (pass values as parameters)."""

    __slots__ = ("sqlite", "postgresql")

    def __init__(self, text: str) -> None:
        if "--" in text or "/*" in text or "'" in text:
            raise ValueError("Sql text takes no comments or string literals; pass values as parameters")
        self.sqlite = " ".join(text.split())
        self.postgresql = _NAMED_PARAMETER.sub(r"%(\1)s", self.sqlite.replace("%", "%%"))

    def __repr__(self) -> str:
        return f"Sql({self.sqlite!r})"


class RawConnection:
    """The DB-API connection under the session's transaction, with what differs between
    the backends: the parameter style, and timestamps (SQLite keeps naive UTC text in
    SQLAlchemy's format, PostgreSQL ``timestamptz``). Database errors come out as
    SQLAlchemy's exceptions, so the app's handlers apply (503 when the database is down)."""

    __slots__ = ("_connection", "_dbapi", "is_sqlite")

    def __init__(self, session: Any) -> None:
        self._connection = session.connection()
        self._dbapi = self._connection.connection.dbapi_connection
        self.is_sqlite = self._connection.dialect.name == "sqlite"

    def execute(self, sql: Sql, parameters: dict[str, Any]) -> Any:
        """Run ``sql`` and return the DB-API cursor (rows are plain tuples)."""
        text = sql.sqlite if self.is_sqlite else sql.postgresql
        try:
            return self._dbapi.execute(text, parameters)
        except self._connection.dialect.loaded_dbapi.Error as exc:
            # A lost connection is marked so (503); the session's rollback then takes it
            # out of the pool, as for a statement run by SQLAlchemy.
            dialect = self._connection.dialect
            lost = dialect.is_disconnect(exc, self._dbapi, None)
            raise DBAPIError.instance(text, parameters, exc, dialect.loaded_dbapi.Error,
                                      connection_invalidated=lost, dialect=dialect) from exc

    def time(self, value: datetime | None) -> Any:
        """A UTC timestamp as a parameter (as ``UTCDateTime`` stores it); like that type,
        refuses a naive datetime (its zone would be the host's or the session's)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if not self.is_sqlite:
            return value
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    @staticmethod
    def read_time(value: Any) -> datetime | None:
        """A timestamp column as read from either backend, as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
