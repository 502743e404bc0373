"""The migration that stores each outbound message's purpose (issue 13), on the suite's
backend: existing rows get the purpose they were sent for, from what the row already
says (the answer to an SMS, a draw's winner notice, a campaign's message, else an
operator's), and the column is the models' on SQLite and PostgreSQL alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from roko_app.extensions import db
from roko_app.models import OutboundSms
from roko_app.models.lucky_draw import LuckyDrawPick
from roko_app.services import outbound
from tests.factories import T0, add_batch, add_draw
from tests.helpers import base_config, text_in

BEFORE, AFTER = "e13c0a5e7f21", "9232f266ea23"


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Any) -> Iterator[str]:
    """A database of the suite's backend of its own (the migrations run up and down on it)."""
    if not database_url.startswith("postgresql"):
        yield "sqlite:///" + str(tmp_path / "purpose.db")
        return
    name = f"roko_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(database_url).set(database="postgres"), isolation_level="AUTOCOMMIT",
                          poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def purposes() -> dict[int, str]:
    return {row.id: row.purpose for row in db.session.execute(text("SELECT id, purpose FROM outbound_sms"))}


def test_existing_rows_get_the_purpose_they_were_sent_for(scratch_url: str) -> None:
    from flask_migrate import downgrade, upgrade

    from roko_app import create_app

    app = create_app(base_config(scratch_url, CAMPAIGN_START="", CAMPAIGN_END="", TOPAZ_SEND_PORT=17))
    with app.app_context():
        upgrade()
    # Rows written by the app itself at the head revision: what each path records.
    add_draw(app, "RUN")
    answered = text_in(app, "ROKO U10000009")
    with app.app_context():
        batch = add_batch(T0, "batch-1", accepted=1)
        campaign = outbound.queue_message(phone_number="622334455", text="Promo", port=17,
                                          purpose=outbound.Purpose.CAMPAIGN)
        campaign.campaign_batch_id = batch.id
        operator = outbound.queue_message(phone_number="622334455", text="Bonjour", port=17, caller="ops")
        db.session.commit()
        campaign_id, operator_id = campaign.id, operator.id
        recorded = purposes()
        notices = list(db.session.scalars(select(LuckyDrawPick.outbound_sms_id)
                                          .where(LuckyDrawPick.outbound_sms_id.is_not(None))))
        reply = db.session.scalar(select(OutboundSms.id).where(OutboundSms.reply_to_sms_id == answered))
    assert len(notices) == 3 and reply is not None
    assert {recorded[i] for i in notices} == {"WINNER_NOTICE"}
    assert (recorded[reply], recorded[campaign_id], recorded[operator_id]) == ("REPLY", "CAMPAIGN", "OPERATOR")

    with app.app_context():
        downgrade(revision=BEFORE)
        assert "purpose" not in {c["name"] for c in inspect(db.engine).get_columns("outbound_sms")}
        # Rows as older code wrote them: a notice linked from its pick, whatever its caller;
        # a draw's WINNER notice no pick links (yet); an API message with the WINNER template.
        db.session.execute(text("UPDATE outbound_sms SET caller = 'someone' WHERE id = :id"), {"id": notices[0]})
        unlinked = db.session.scalar(text(
            "INSERT INTO outbound_sms (to_msisdn, text, encoding, units, status, priority, port, template_key, "
            "caller, attempts, next_attempt_at, created_at, updated_at, maybe_sent) VALUES ('620000001', 'Bravo', "
            "'GSM-7', 5, 'QUEUED', 10, 17, 'WINNER', :caller, 0, :at, :at, :at, :no) RETURNING id"),
            {"caller": "draw:D-OLD", "at": T0, "no": False})
        lookalike = db.session.scalar(text(
            "INSERT INTO outbound_sms (to_msisdn, text, encoding, units, status, priority, port, template_key, "
            "caller, attempts, next_attempt_at, created_at, updated_at, maybe_sent) VALUES ('620000001', 'Bravo', "
            "'GSM-7', 5, 'QUEUED', 5, 17, 'WINNER', :caller, 0, :at, :at, :at, :no) RETURNING id"),
            {"caller": "ops-key", "at": T0 + timedelta(seconds=1), "no": False})
        db.session.commit()
        upgrade(revision=AFTER)
        migrated = purposes()
        column = next(c for c in inspect(db.engine).get_columns("outbound_sms") if c["name"] == "purpose")
        db.session.remove()
        db.engine.dispose()
    assert migrated == {**recorded, unlinked: "WINNER_NOTICE", lookalike: "OPERATOR"}
    assert column["nullable"] is False and "OPERATOR" in str(column["default"])
    assert column["type"].length == OutboundSms.__table__.c.purpose.type.length == 16
