"""Database wiring: the schema the migrations build, and the hot path's SQL on the DB-API
connection (``database.Sql`` / ``RawConnection``) against what SQLAlchemy would store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, exc, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from roko_app.database.sqlite import RawConnection, Sql
from roko_app.extensions import db
from roko_app.models import Entry, InboundSms, Participant
from roko_app.services import classify as entries
from tests.webhooks.test_topaz_inbound import SEED_EXAMPLE, body_with, post

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
    from tests.conftest import base_config

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
    """The blocking rule's count must not scan every failure of the campaign's day."""
    sql = entries._COUNT_FAILURES
    params = {"participant": 1, "since": "2026-05-15 00:00:00.000000", **entries._FAILED}
    with app.app_context():
        conn = db.session.connection()
        if is_postgres:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql.postgresql,
                                                                 {**params, "since": T0}))
        else:
            plan = "\n".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql.sqlite, params))
        db.session.rollback()
    assert "ix_entry_participant_created" in plan, plan


# --- Sql -----------------------------------------------------------------------------

def test_sql_names_parameters_for_each_driver() -> None:
    sql = Sql("""
        SELECT a::text, b % 2 FROM t
        WHERE x = :x_1 AND y = :Y""")
    assert sql.sqlite == "SELECT a::text, b % 2 FROM t WHERE x = :x_1 AND y = :Y"
    assert sql.postgresql == "SELECT a::text, b %% 2 FROM t WHERE x = %(x_1)s AND y = %(Y)s"


@pytest.mark.parametrize("text", ["SELECT 1 -- why", "SELECT /* x */ 1", "SELECT 'a  :b'"])
def test_sql_refuses_comments_and_literals_it_would_mangle(text: str) -> None:
    with pytest.raises(ValueError):
        Sql(text)


def test_raw_times_refuse_naive_datetimes(app: Any) -> None:
    with app.app_context():
        raw = RawConnection(db.session)
        with pytest.raises(ValueError):
            raw.time(datetime(2026, 5, 15, 10, 30))
        assert raw.time(None) is None
        db.session.rollback()


# --- RawConnection: the same values SQLAlchemy stores ----------------------------------

def _participant(msisdn: str = "612345678", **values: Any) -> Participant:
    participant = Participant(msisdn=msisdn, first_seen_at=T0, valid_entries=0, **values)
    db.session.add(participant)
    db.session.flush()
    return participant


@pytest.mark.parametrize("moment", [T0, T0.replace(microsecond=1), T0.replace(microsecond=999999),
                                    datetime(2026, 5, 15, 11, 30, tzinfo=ZoneInfo("Africa/Lagos"))])
def test_times_written_raw_read_back_through_the_orm_and_raw(app: Any, moment: datetime) -> None:
    with app.app_context():
        raw = RawConnection(db.session)
        raw.execute(Sql("INSERT INTO participant (msisdn, first_seen_at, valid_entries, blocked_until) "
                        "VALUES (:m, :t, 0, :t)"), {"m": "622000001", "t": raw.time(moment)})
        stored = db.session.scalars(select(Participant).where(Participant.msisdn == "622000001")).one()
        assert stored.blocked_until == moment
        assert stored.blocked_until.tzinfo is not None
        row = raw.execute(Sql("SELECT blocked_until, opted_out_at FROM participant WHERE msisdn = :m"),
                          {"m": "622000001"}).fetchone()
        assert raw.read_time(row[0]) == moment
        assert raw.read_time(row[0]).utcoffset() == timedelta(0)
        assert raw.read_time(row[1]) is None
        db.session.rollback()


@pytest.mark.parametrize(("since", "counted"), [(T0 - timedelta(microseconds=1), 1), (T0, 0)])
def test_raw_time_comparisons_agree_with_orm_stored_times(app: Any, since: datetime, counted: int) -> None:
    """``created_at > :since`` on a value the ORM stored: both sides of the boundary."""
    with app.app_context():
        participant = _participant()
        sms = InboundSms(gateway_sms_id=1, port=1, sender="612345678", text="x", gateway_timestamp=T0,
                         received_at=T0, source="topaz")
        db.session.add(sms)
        db.session.flush()
        db.session.add(Entry(sms_id=sms.id, participant_id=participant.id, msisdn="612345678",
                             outcome="INVALID_CODE", created_at=T0))
        db.session.flush()
        raw = RawConnection(db.session)
        found = raw.execute(entries._COUNT_FAILURES,
                            {"participant": participant.id, "since": raw.time(since), **entries._FAILED}).fetchone()
        assert found[0] == counted
        db.session.rollback()


def test_the_failure_count_counts_exactly_the_failed_outcomes() -> None:
    from roko_app.models.draw import FAILED_OUTCOMES

    assert sorted(entries._FAILED.values()) == sorted(o.value for o in FAILED_OUTCOMES)


def test_raw_errors_are_sqlalchemy_errors_and_roll_back(app: Any) -> None:
    with app.app_context():
        _participant()
        raw = RawConnection(db.session)
        with pytest.raises(exc.IntegrityError):
            raw.execute(Sql("INSERT INTO participant (msisdn, first_seen_at, valid_entries) VALUES (:m, :t, 0)"),
                        {"m": "612345678", "t": raw.time(T0)})
        db.session.rollback()
        assert db.session.scalars(select(Participant)).all() == []


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
