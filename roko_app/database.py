"""Database wiring that depends on the backend (SQLite pragmas)."""

from __future__ import annotations

import sqlite3
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
