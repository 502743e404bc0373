"""Database wiring that depends on the backend (SQLite pragmas)."""

from __future__ import annotations

import sqlite3
from typing import Any

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
