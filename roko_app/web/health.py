"""``/healthz`` (the process answers) and ``/readyz`` (the database answers)."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import text

from roko_app.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.get("/readyz")
def readyz() -> dict[str, str]:
    # An OperationalError here is answered 503 DATABASE_UNAVAILABLE by the app handler.
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    return {"status": "ready"}
