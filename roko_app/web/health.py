"""``/healthz`` (the process answers) and ``/readyz`` (the database takes writes)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from roko_app.database.sqlite import begin_write
from roko_app.extensions import db
from roko_app.web.errors import json_error

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

# A write that changes nothing, to the migrations' own one-row table: refused by a
# read-only database (a standby, default_transaction_read_only, a read-only file), a
# locked one or a full disk, like every other write; and a database never migrated is
# not ready either.
_WRITE_PROBE = text("UPDATE alembic_version SET version_num = version_num")


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> Any:
    session = db.session
    try:
        if session.get_bind().dialect.name == "sqlite":
            begin_write(session)  # BEGIN IMMEDIATE: waits for the write lock
            session.execute(_WRITE_PROBE)
            session.commit()  # SQLite meets a full disk or a read-only file system at commit
        else:
            session.execute(_WRITE_PROBE)
            session.rollback()  # PostgreSQL refuses the write itself; no dead row left behind
    except DBAPIError as error:
        session.rollback()
        log.error("not ready: the database cannot take writes (%s)", type(error.orig or error).__name__)
        return json_error(503, "DATABASE_UNAVAILABLE", "The database cannot take writes; retry later.",
                          headers={"Retry-After": "5"})
    return {"status": "ready"}
