"""Every outcome end to end: the gateway posts the farmer's SMS to the webhook, the
entry is recorded, the reply is queued, the worker sends it, and the (simulated)
gateway receives the right French text."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import OutboundSms
from roko_app.worker import Worker
from tests.factories import register_codes
from tests.helpers import SIM_TOKEN, expected_reply, text_in

FARMER = "612345678"
OTHER = "622334455"
CODES = ["U10000001", "U10000002", "U10000003", "U10000004"]


@pytest.fixture
def e2e_app(make_app: Any, simulator: Any) -> Any:
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_RATE_PER_PORT=0,
                   CAMPAIGN_START="2026-06-01T00:00", CAMPAIGN_END="2026-09-01T00:00", BLOCK_AFTER_FAILURES=2)
    register_codes(app, *CODES)
    return app


def run_worker(app: Any) -> None:
    with app.app_context():
        Worker.from_app(app).run(once=True)


def delivered(simulator: Any, to: str = FARMER) -> list[str]:
    return [m["text"] for m in simulator.sent(to)]


def test_every_outcome_reaches_the_farmer_in_french(e2e_app: Any, simulator: Any) -> None:
    steps = [
        ("2026-05-31T12:00:00Z", "ROKO U10000001", expected_reply("CAMPAIGN_NOT_STARTED")),
        ("2026-06-02T08:00:00Z", "ROKO U10000001", expected_reply("VALID_FIRST", code="U10000001")),
        ("2026-06-02T08:01:00Z", "roko-u10000002", expected_reply("VALID_AGAIN", code="U10000002", chances=2)),
        ("2026-06-02T08:02:00Z", "ROKO U10000001", expected_reply("DUPLICATE", code="U10000001", chances=2)),
        ("2026-06-02T08:03:00Z", "Bonjour", expected_reply("BAD_FORMAT")),
        ("2026-06-02T08:04:00Z", "ROKO U10000003", None),  # sent by the other number first, see below
        ("2026-06-02T08:05:00Z", "ROKO U99999999", expected_reply("BLOCKED", hours=24)),  # 2nd failure: blocked
        ("2026-06-02T08:06:00Z", "ROKO U10000004", None),  # blocked: silence
        ("2026-06-02T08:07:00Z", "STOP", expected_reply("OPT_OUT")),
        ("2026-09-01T00:00:00Z", "ROKO U10000004", expected_reply("CAMPAIGN_CLOSED")),
    ]
    with freeze_time("2026-06-02T07:00:00Z"):
        text_in(e2e_app, "ROKO U10000003", sender=OTHER)
    sent_before = 0
    for moment, text, reply in steps:
        with freeze_time(moment):
            text_in(e2e_app, text)
            run_worker(e2e_app)
        texts = delivered(simulator)
        if text == "ROKO U10000003":
            reply = expected_reply("ALREADY_USED", code="U10000003")
        if reply is None:
            assert len(texts) == sent_before, f"{text!r} must get no reply"
        else:
            assert texts[-1] == reply and len(texts) == sent_before + 1, (text, texts[-1:])
            sent_before += 1
    with e2e_app.app_context():
        statuses = {m.status for m in db.session.scalars(select(OutboundSms))}
    # All went out; those sent months before the last step never got a delivery report (UNREPORTED).
    assert statuses == {"SENT", "UNREPORTED"}


def test_replays_and_outage_still_deliver_each_reply_once(e2e_app: Any, simulator: Any) -> None:
    with freeze_time("2026-06-02T08:00:00Z") as frozen:
        simulator.set(mode="down")
        for _ in range(3):  # the gateway retries its webhook call
            text_in(e2e_app, "ROKO U10000001", gateway_sms_id=4242)
        run_worker(e2e_app)
        assert delivered(simulator) == []
        simulator.set(mode="ok")
        frozen.tick(3600)  # past any backoff
        run_worker(e2e_app)
    assert delivered(simulator) == [expected_reply("VALID_FIRST", code="U10000001")]
