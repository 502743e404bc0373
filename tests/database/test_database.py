"""Database wiring: the schema the migrations build, the indexes the hot queries need, and
what the webhook does when the database goes away."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from roko_app.extensions import db
from tests.helpers import SEED_EXAMPLE, base_config, body_with, post

T0 = datetime(2026, 5, 15, 10, 30, 0, tzinfo=UTC)


# --- the schema ----------------------------------------------------------------------

def test_migrations_build_exactly_the_models_schema(app: Any) -> None:
    """A model change without its migration (or the reverse) fails here, on each backend."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        differences = [d for d in compare_metadata(context, db.metadata) if d[0] != "remove_table" or
                       d[1].name != "alembic_version"]
    assert differences == []


def test_every_migration_goes_down_and_up_again(database_url: str, tmp_path: Any) -> None:
    """On a scratch database of the suite's backend: head, base, head, then the schema is
    still exactly the models' (PostgreSQL builds the newer indexes CONCURRENTLY)."""
    from flask_migrate import downgrade, upgrade

    from roko_app import create_app

    admin = None
    if database_url.startswith("postgresql"):
        name = f"roko_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT",
                              poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    else:
        url = "sqlite:///" + str(tmp_path / "migrations.db")
    try:
        app = create_app(base_config(url))
        with app.app_context():
            upgrade()
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade()
            with db.engine.connect() as conn:
                context = MigrationContext.configure(conn)
                assert context.get_current_revision() is not None
                differences = [d for d in compare_metadata(context, db.metadata)
                               if d[0] != "remove_table" or d[1].name != "alembic_version"]
            db.engine.dispose()
        assert differences == []
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_the_failure_count_reads_one_numbers_entries_by_index(app: Any, is_postgres: bool) -> None:
    """The blocking rule's count (a number's failures in a window) must not scan every
    failure of the campaign's day."""
    sql = ("SELECT count(*) FROM entry WHERE participant_id = 1 AND created_at > '2026-05-15 00:00:00' "
           "AND outcome IN ('INVALID_CODE', 'ALREADY_USED')")
    with app.app_context():
        conn = db.session.connection()
        if is_postgres:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
        db.session.rollback()
    assert "ix_entry_participant_created" in plan, plan


@pytest.mark.postgres_only
def test_inbound_answers_503_when_its_connection_dies_then_recovers(make_app: Any) -> None:
    """PostgreSQL restarted under a pooled connection: the gateway gets a 503 (and
    retries), the broken connection leaves the pool, and the next SMS is stored."""
    app = make_app()
    client = app.test_client()
    assert post(client, SEED_EXAMPLE).status_code == 200
    with app.app_context():
        url = db.engine.url
    admin_engine = create_engine(url, poolclass=NullPool)
    with admin_engine.connect() as admin:
        killed = admin.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
        admin.commit()
    assert killed >= 1
    response = post(client, body_with(gateway_sms_id=102))
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.get_json()["code"] == "DATABASE_UNAVAILABLE"
    assert post(client, body_with(gateway_sms_id=102)).status_code == 200
    assert post(client, body_with(gateway_sms_id=103)).status_code == 200
