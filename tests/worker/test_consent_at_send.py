"""Consent at send time (issue 13): a message queued before its number texted STOP is
checked again when the worker's turn comes. What the number no longer gets (an
operator's message, a campaign's) is CANCELLED with the reason OPTED_OUT, counted as
cancelled in the campaign's progress and reported to Optimove; the answers to its own
SMS and a winner notice still go out; a START before the message's turn lets it go."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import OutboundSms
from roko_app.optimove.simulator import RunningOptimove, start_in_thread
from roko_app.reads.campaigns import batch_summary
from roko_app.services import outbound
from roko_app.web.credentials import sign
from tests.factories import T0_WORKER, register_codes
from tests.helpers import run_once, sent_refs, text_in, worker_config

T0 = T0_WORKER  # the conftest's frozen clock
FARMER, OTHER = "612345678", "622334455"
LATER = timedelta(hours=1)
KEY, SECRET = "optimove-key", "optimove-secret"


@pytest.fixture
def optimove() -> Iterator[RunningOptimove]:
    with start_in_thread(KEY, SECRET) as running:
        yield running


@pytest.fixture
def capp(make_app: Any, simulator: Any, optimove: RunningOptimove) -> Any:
    app = make_app(**worker_config(simulator, CAMPAIGN_START="", CAMPAIGN_END="", OPTIMOVE_API_KEY=KEY,
                                   OPTIMOVE_HMAC_SECRET=SECRET, OPTIMOVE_BASE_URL=optimove.url + "/",
                                   OPTIMOVE_APP_API_KEY=KEY))
    register_codes(app, "U10000001")
    return app


def queue(app: Any, purpose: outbound.Purpose = outbound.Purpose.OPERATOR, to: str = FARMER,
          not_before: Any = None) -> int:
    with app.app_context():
        message = outbound.queue_message(phone_number=to, text="Bonjour de ROKO", port=17, purpose=purpose,
                                         not_before=not_before)
        db.session.commit()
        return message.id


def row(app: Any, message_id: int) -> OutboundSms:
    with app.app_context():
        message = db.session.get(OutboundSms, message_id)
        assert message is not None
        db.session.expunge(message)
        return message


def replies_to(app: Any, sms_id: int) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundSms.id).where(OutboundSms.reply_to_sms_id == sms_id)))


@pytest.mark.parametrize("purpose", [outbound.Purpose.OPERATOR, outbound.Purpose.CAMPAIGN])
def test_a_message_queued_before_stop_is_cancelled_with_the_reason_not_sent(
        capp: Any, simulator: Any, frozen: Any, purpose: outbound.Purpose) -> None:
    scheduled = queue(capp, purpose, not_before=T0 + LATER)
    waiting = queue(capp, purpose)  # due now, but the worker has not run yet
    other = queue(capp, purpose, to=OTHER, not_before=T0 + LATER)
    (confirmation,) = replies_to(capp, text_in(capp, "STOP"))
    run_once(capp)
    frozen.tick(LATER)
    run_once(capp)

    assert sorted(sent_refs(simulator)) == sorted(f"roko-out-{i}" for i in (confirmation, other))
    for message_id in (scheduled, waiting):
        message = row(capp, message_id)
        assert (message.status, message.last_error, message.attempts, message.purpose) == (
            "CANCELLED", "CANCELLED_OPTED_OUT", 0, purpose)
    assert row(capp, other).status == "SENT"


def test_answers_to_its_own_sms_and_a_winner_notice_queued_before_stop_still_go_out(
        capp: Any, simulator: Any, frozen: Any) -> None:
    (answer,) = replies_to(capp, text_in(capp, "ROKO U10000001"))  # queued, not sent yet
    notice = queue(capp, outbound.Purpose.WINNER_NOTICE, not_before=T0 + LATER)
    (confirmation,) = replies_to(capp, text_in(capp, "STOP"))
    frozen.tick(LATER)
    run_once(capp)
    assert sorted(sent_refs(simulator)) == sorted(f"roko-out-{i}" for i in (answer, notice, confirmation))
    assert {row(capp, i).purpose for i in (answer, notice, confirmation)} == {"REPLY", "WINNER_NOTICE"}


def test_a_start_before_the_messages_turn_lets_it_go_out(capp: Any, simulator: Any, frozen: Any) -> None:
    scheduled = queue(capp, not_before=T0 + LATER)
    text_in(capp, "STOP")
    frozen.tick(timedelta(minutes=10))
    text_in(capp, "START")
    frozen.tick(LATER)
    run_once(capp)
    assert f"roko-out-{scheduled}" in sent_refs(simulator)
    assert row(capp, scheduled).status == "SENT"


def test_a_message_waiting_for_a_retry_is_cancelled_at_its_next_attempt(
        capp: Any, simulator: Any, frozen: Any) -> None:
    message_id = queue(capp)
    simulator.set(fail_rate=1.0)
    run_once(capp)
    simulator.set(fail_rate=0.0)
    assert row(capp, message_id).status == "QUEUED", "a transient failure: to be retried"
    text_in(capp, "STOP")
    frozen.tick(LATER)
    run_once(capp)
    message = row(capp, message_id)
    assert (message.status, message.last_error, message.attempts) == ("CANCELLED", "CANCELLED_OPTED_OUT", 1)
    assert f"roko-out-{message_id}" not in sent_refs(simulator)


def post_batch(app: Any, scheduled_ms: int) -> int:
    text = "Nano ROKO : -10 % cette semaine chez votre revendeur."
    body = {"batchId": "batch-stop", "requestId": "req-stop", "senderId": "ROKO",
            "metadata": {"appId": 1, "isHashed": False, "scheduledTime": scheduled_ms, "tenantId": 1},
            "recipients": [{"message": text, "mobileNumber": FARMER, "customerId": "c-1"},
                           {"message": text, "mobileNumber": OTHER, "customerId": "c-2"}]}
    data = json.dumps(body).encode()
    response = app.test_client().post("/api/v1/webhooks/optimove/campaigns", data=data, headers={
        "Content-Type": "application/json", "X-API-Key": KEY, "x-hub-signature": sign(data, SECRET)})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        return int(db.session.scalar(select(OutboundSms.campaign_batch_id).limit(1)))


def test_a_campaign_message_cancelled_by_stop_counts_as_cancelled_and_is_reported_to_optimove(
        capp: Any, simulator: Any, optimove: RunningOptimove, frozen: Any) -> None:
    batch_id = post_batch(capp, int((T0 + LATER).timestamp() * 1000))
    text_in(capp, "STOP")
    frozen.tick(LATER)
    run_once(capp)
    with capp.app_context():
        messages = {m.to_msisdn: m for m in db.session.scalars(select(OutboundSms).where(
            OutboundSms.campaign_batch_id == batch_id))}
        summary = batch_summary(batch_id)
    assert {n: (m.status, m.purpose) for n, m in messages.items()} == {
        FARMER: ("CANCELLED", "CAMPAIGN"), OTHER: ("SENT", "CAMPAIGN")}
    assert (summary.groups, summary.progress) == ({"sent": 1, "failed": 0, "cancelled": 1, "queued": 0}, 100)

    frozen.tick(timedelta(minutes=1))
    run_once(capp)
    (report,) = optimove.simulator.calls("delivery-report")
    assert report["idempotency_key"] == f"dlr:{messages[FARMER].id}:OPTED_OUT"
    assert (report["body"]["type"], report["body"]["customerId"]) == ({"status": "Failed", "subStatus": "OptedOut"},
                                                                      "c-1")
    frozen.tick(timedelta(minutes=1))
    run_once(capp)
    assert len(optimove.simulator.calls("delivery-report")) == 1, "reported once"
