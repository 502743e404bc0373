"""``/readyz`` is ready only when the database takes writes (issue 12, item 9): a
read-only or unmigrated database is not ready, though it still answers reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text

from roko_app import create_app
from roko_app.extensions import db
from tests.helpers import assert_error, base_config


def version(app: Any) -> list[str]:
    with app.app_context():
        try:
            return list(db.session.scalars(text("SELECT version_num FROM alembic_version")))
        finally:
            db.session.remove()
            db.engine.dispose()


def close(app: Any) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_ready_when_the_database_takes_writes(app: Any, client: Any) -> None:
    before = version(app)
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}
    assert version(app) == before, "the probe changes nothing"


def test_not_ready_when_the_database_is_read_only(database_url: str, is_postgres: bool) -> None:
    if is_postgres:
        config = base_config(database_url, SQLALCHEMY_ENGINE_OPTIONS={
            "connect_args": {"options": "-c default_transaction_read_only=on", "connect_timeout": 5}})
    else:  # the same file, opened read-only
        path = database_url.removeprefix("sqlite:///")
        config = base_config(f"sqlite:///file:{path}?mode=ro&uri=true")
    app = create_app(config)
    assert version(app), "reads still work"
    response = app.test_client().get("/readyz")
    close(app)
    assert_error(response, 503, "DATABASE_UNAVAILABLE")
    assert response.headers["Retry-After"]


def test_not_ready_when_the_database_was_never_migrated(tmp_path: Path) -> None:
    app = create_app(base_config(f"sqlite:///{tmp_path / 'empty.db'}"))
    response = app.test_client().get("/readyz")
    close(app)
    assert_error(response, 503, "DATABASE_UNAVAILABLE")
