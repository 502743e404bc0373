"""What we tell Optimove (docs/optimove.md), against the Optimove simulator: delivery
reports of campaign messages, incoming messages, the handshake; every call signed over
its exact bytes; retried on 5xx until it goes through once; refused calls kept."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from roko_app.extensions import db
from roko_app.models import OptimoveCallback, OutboundSms
from roko_app.optimove.simulator import RunningOptimove, start_in_thread
from roko_app.services import optimove_callbacks
from tests.factories import T0_WORKER, add_batch, add_outbound
from tests.helpers import WEBHOOK_TOKEN, classify_all, post_reports, run_once, worker_config

T0 = T0_WORKER  # the conftest's frozen clock
KEY, SECRET = "tenant-api-token", "shared-secret"
META = {"appId": 123, "brandId": "roko", "campaignId": "232522", "campaignType": 1, "channelId": 493,
        "engagementId": "aaabbbccc", "isHashed": False, "scheduledTime": 1704106200000, "tenantId": 1}


@pytest.fixture
def optimove() -> Iterator[RunningOptimove]:
    with start_in_thread(KEY, SECRET) as running:
        yield running


@pytest.fixture
def oapp(make_app: Any, simulator: Any, optimove: RunningOptimove) -> Any:
    return make_app(**worker_config(simulator, OPTIMOVE_BASE_URL=optimove.url + "/", OPTIMOVE_APP_API_KEY=KEY,
                                    OPTIMOVE_HMAC_SECRET=SECRET, OPTIMOVE_API_KEY="our-key",
                                    OPTIMOVE_CAMPAIGN_WEBHOOK_URL="https://roko.example/api/v1/webhooks/optimove/campaigns"))


def campaign(app: Any, *statuses: str, at: datetime = T0, sent_at: datetime | None = None,
             batch_id: str = "batch-123") -> list[int]:
    """A batch's messages to 612345670, 612345671, ...: queued ``at``, and sent at
    ``sent_at`` (default ``at``) unless still QUEUED, CANCELLED or FAILED."""
    with app.app_context():
        batch = add_batch(at, batch_id, accepted=len(statuses))
        batch.meta = META
        ids = []
        for i, status in enumerate(statuses):
            message = add_outbound(f"61234567{i}", "Promo ROKO", at, status=status)
            message.campaign_batch_id, message.customer_id, message.gateway_sms_id = batch.id, f"customer-{i}", i + 1
            message.sent_at = None if status in ("QUEUED", "CANCELLED", "FAILED") else (sent_at or at)
            ids.append(message.id)
        db.session.commit()
    return ids


def report(message_id: int, status: str = "delivered") -> dict[str, Any]:
    return {"client_ref": f"roko-out-{message_id}", "status": status, "at": "2026-05-15T10:00:05Z"}


def callbacks(app: Any) -> list[OptimoveCallback]:
    with app.app_context():
        rows = list(db.session.scalars(select(OptimoveCallback).order_by(OptimoveCallback.id)))
        db.session.expunge_all()
        return rows


def test_a_campaign_messages_delivery_is_reported_once_signed_with_its_metadata(
        oapp: Any, optimove: RunningOptimove, frozen: Any) -> None:
    delivered, failed, waiting = campaign(oapp, "SENT", "SENT", "SENT")
    post_reports(oapp.test_client(), {"reports": [report(delivered), report(failed, "failed")]})
    run_once(oapp)
    calls = optimove.simulator.calls("delivery-report")
    assert [call["idempotency_key"] for call in calls] == [f"dlr:{delivered}:DELIVERED", f"dlr:{failed}:UNDELIVERED"]
    assert calls[0]["body"] == {"type": {"status": "Delivered", "subStatus": ""}, "metadata": META,
                                "batchId": "batch-123", "customerId": "customer-0", "mobileNumber": "224612345670"}
    assert calls[1]["body"]["type"] == {"status": "Undelivered", "subStatus": "Failed"}
    assert optimove.simulator.refused == 0, "every signature matched the bytes sent"
    assert [row.body for row in callbacks(oapp)] == [call["raw"] for call in calls], "the bytes stored are those sent"

    frozen.tick(timedelta(minutes=5))
    run_once(oapp)
    assert len(optimove.simulator.calls()) == 2, "nothing is reported twice"
    assert waiting  # still SENT: nothing to say yet


def test_a_late_report_corrects_what_optimove_was_told(oapp: Any, optimove: RunningOptimove, frozen: Any) -> None:
    (message_id,) = campaign(oapp, "UNREPORTED")
    run_once(oapp)
    post_reports(oapp.test_client(), report(message_id))
    frozen.tick(timedelta(seconds=5))
    run_once(oapp)
    assert [call["body"]["type"]["status"] for call in optimove.simulator.calls()] == ["Unknown", "Delivered"]


def test_a_report_still_waiting_when_a_newer_one_comes_is_not_sent_after_it(oapp: Any, optimove: RunningOptimove,
                                                                            frozen: Any) -> None:
    """UNREPORTED waits for a retry (Optimove down); the late gateway report makes it
    DELIVERED: Optimove hears Delivered, and never the older Unknown after it."""
    (message_id,) = campaign(oapp, "UNREPORTED")
    optimove.simulator.fail(503, 1)
    run_once(oapp)  # the Unknown report is refused, to be retried in 30 s
    post_reports(oapp.test_client(), report(message_id))
    frozen.tick(timedelta(seconds=5))
    run_once(oapp)  # the Delivered report goes at once
    frozen.tick(timedelta(minutes=5))
    run_once(oapp)
    sent = [call["body"]["type"]["status"] for call in optimove.simulator.calls()]
    assert sent == ["Delivered"], sent  # the simulator records only what it accepted
    states = {row.idempotency_key: (row.state, row.last_error) for row in callbacks(oapp)}
    assert states[f"dlr:{message_id}:DELIVERED"][0] == "SENT"
    assert states[f"dlr:{message_id}:UNREPORTED"] == ("SUPERSEDED", f"superseded by dlr:{message_id}:DELIVERED")
    with oapp.app_context():
        superseded = next(row.id for row in callbacks(oapp) if row.state == "SUPERSEDED")
        with pytest.raises(optimove_callbacks.NotRetryable):
            optimove_callbacks.retry_dead(superseded)


def test_a_handshake_still_waiting_is_replaced_by_a_newer_one(oapp: Any, optimove: RunningOptimove,
                                                              frozen: Any) -> None:
    """The key was rotated while the first handshake waited for a retry: only the newer
    key is registered (the older one, sent after it, would have Optimove present a key
    our webhook refuses)."""
    optimove.simulator.fail(503, 1)
    with oapp.app_context():
        optimove_callbacks.queue_handshake({**oapp.config, "OPTIMOVE_API_KEY": "key-1"})
        db.session.commit()
    run_once(oapp)
    frozen.tick(timedelta(seconds=1))
    with oapp.app_context():
        optimove_callbacks.queue_handshake({**oapp.config, "OPTIMOVE_API_KEY": "key-2"})
        db.session.commit()
    frozen.tick(timedelta(minutes=5))
    run_once(oapp)
    assert [call["body"]["aggregatorApiKey"] for call in optimove.simulator.calls("handshake")] == ["key-2"]


def test_a_status_reached_again_is_reported_again_under_a_key_of_its_own(make_app: Any, simulator: Any,
                                                                         optimove: RunningOptimove,
                                                                         frozen: Any) -> None:
    """A map that reports QUEUED too: FAILED, re-queued by hand, FAILED again is three
    reports (the third under its own key: Optimove would drop a repeated one, and the
    worker's round used to fail on the duplicate key)."""
    mapping = {"QUEUED": ["Pending", ""], "FAILED": ["Failed", "NotSent"]}
    app = make_app(**worker_config(simulator, OPTIMOVE_BASE_URL=optimove.url + "/", OPTIMOVE_APP_API_KEY=KEY,
                                   OPTIMOVE_HMAC_SECRET=SECRET, OPTIMOVE_STATUS_MAP=json.dumps(mapping)))
    (message_id,) = campaign(app, "FAILED")
    for status in ("QUEUED", "FAILED"):
        run_once(app)
        with app.app_context():
            db.session.execute(update(OutboundSms).where(OutboundSms.id == message_id).values(
                status=status, next_attempt_at=datetime.now(UTC) + timedelta(days=1)))
            db.session.commit()
        frozen.tick(timedelta(seconds=5))
    run_once(app)
    keys = [call["idempotency_key"] for call in optimove.simulator.calls("delivery-report")]
    assert keys == [f"dlr:{message_id}:FAILED", f"dlr:{message_id}:QUEUED", f"dlr:{message_id}:FAILED:2"]


def test_optimove_down_for_a_while_then_up_gets_every_report_exactly_once(
        oapp: Any, optimove: RunningOptimove, frozen: Any) -> None:
    ids = campaign(oapp, *["DELIVERED"] * 6)
    optimove.simulator.fail(503, 10)
    for _ in range(12):  # an hour and more, in 5 s to 10 min steps
        run_once(oapp)
        frozen.tick(timedelta(minutes=10))
    keys = [call["idempotency_key"] for call in optimove.simulator.calls()]
    assert sorted(keys) == sorted(f"dlr:{i}:DELIVERED" for i in ids)
    rows = callbacks(oapp)
    assert {row.state for row in rows} == {"SENT"} and max(row.attempts for row in rows) > 1


def test_the_backoff_doubles_from_30_seconds(oapp: Any, optimove: RunningOptimove, frozen: Any) -> None:
    campaign(oapp, "DELIVERED")
    optimove.simulator.fail(503, 3)
    waits = []
    for _ in range(3):
        run_once(oapp)
        (row,) = callbacks(oapp)
        waits.append(row.next_attempt_at - datetime.now(UTC))
        frozen.move_to(row.next_attempt_at)
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    run_once(oapp)
    assert callbacks(oapp)[0].state == "SENT"


def test_a_report_that_failed_for_days_waits_an_hour_not_an_overflow(oapp: Any, optimove: RunningOptimove,
                                                                      frozen: Any) -> None:
    """The doubling stops at the hour: after 50 failures (two days of an Optimove outage)
    30 s * 2**50 would pass any date and stop the send worker."""
    campaign(oapp, "DELIVERED")
    optimove.simulator.fail(503, 2)
    run_once(oapp)
    (row,) = callbacks(oapp)
    assert (row.attempts, row.next_attempt_at - datetime.now(UTC)) == (1, timedelta(seconds=30))
    with oapp.app_context():
        db.session.execute(update(OptimoveCallback).values(attempts=50, next_attempt_at=datetime.now(UTC)))
        db.session.commit()
    run_once(oapp)
    (row,) = callbacks(oapp)
    assert (row.state, row.attempts, row.next_attempt_at - datetime.now(UTC)) == ("PENDING", 51, timedelta(hours=1))


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_another_4xx_is_the_dead_letter_until_retried_by_hand(oapp: Any, optimove: RunningOptimove, frozen: Any,
                                                               status: int) -> None:
    campaign(oapp, "DELIVERED")
    optimove.simulator.fail(status, 1)
    run_once(oapp)
    (row,) = callbacks(oapp)
    assert (row.state, row.attempts, row.last_status) == ("DEAD", 1, status)
    frozen.tick(timedelta(days=1))
    run_once(oapp)
    assert callbacks(oapp)[0].state == "DEAD", "not retried by itself"
    with oapp.app_context():
        optimove_callbacks.retry_dead(row.id)
        db.session.commit()
    run_once(oapp)
    assert callbacks(oapp)[0].state == "SENT" and len(optimove.simulator.calls()) == 1


def test_a_wrong_secret_is_refused_by_optimove(make_app: Any, simulator: Any, optimove: RunningOptimove,
                                               frozen: Any) -> None:
    app = make_app(**worker_config(simulator, OPTIMOVE_BASE_URL=optimove.url, OPTIMOVE_APP_API_KEY=KEY,
                                   OPTIMOVE_HMAC_SECRET="not-the-secret"))
    campaign(app, "DELIVERED")
    run_once(app)
    assert optimove.simulator.refused == 1 and callbacks(app)[0].state == "DEAD"


def test_the_signature_is_an_hmac_of_the_exact_bytes(optimove: RunningOptimove) -> None:
    body = json.dumps({"messages": []}).encode()
    client = optimove_callbacks.OptimoveClient(optimove.url, KEY, SECRET)
    assert client.post("incoming-message", body, "mo:1").outcome == "sent"
    assert client.post("incoming-message", body + b" ", "mo:2").outcome == "sent", "signed over these bytes"
    client.close()
    assert optimove.simulator.calls()[0]["raw"].encode() == body
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert optimove.simulator.handle("/api/v1/aggregator/incoming-message",
                                     {"app-api-key": KEY, "x-hub-signature": signature}, body)[0] == 200
    assert optimove.simulator.handle("/api/v1/aggregator/incoming-message",
                                     {"app-api-key": KEY, "x-hub-signature": signature.upper()}, body)[0] == 401


def inbound(app: Any, sender: str, text: str, at: datetime, gateway_sms_id: int) -> int:
    body = {"gateway_sms_id": gateway_sms_id, "port": 17, "sender": sender, "text": text,
            "timestamp": at.isoformat()}
    response = app.test_client().post("/api/v1/webhooks/topaz/inbound", json=body,
                                      headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN})
    assert response.status_code == 200
    return int(response.get_json()["sms_id"])


def test_replies_to_a_campaign_are_forwarded_as_incoming_messages(oapp: Any, optimove: RunningOptimove,
                                                                  frozen: Any) -> None:
    campaign(oapp, "DELIVERED", at=T0 - timedelta(hours=71))  # to 612345670
    inbound(oapp, "612345670", "STOP", T0, 1)
    inbound(oapp, "612345670", "STOP", T0, 1)  # a replay of the same SMS
    inbound(oapp, "699999999", "ROKO U1", T0, 2)  # got no campaign message
    assert [c for c in callbacks(oapp) if c.kind == "incoming-message"] == [], "the webhook only stores"
    classify_all(oapp)  # forwarded by the classifier, in the transaction that classifies the SMS
    classify_all(oapp)
    run_once(oapp)
    (call,) = optimove.simulator.calls("incoming-message")
    assert call["body"] == {"messages": [{"to": "ROKO", "from": "224612345670", "message": "STOP",
                                          "sentAt": "2026-05-15T10:00:00"}]}
    frozen.tick(timedelta(hours=1, seconds=1))
    inbound(oapp, "612345670", "stop", datetime.now(UTC), 3)  # 72 h and a second after the campaign message
    classify_all(oapp)
    run_once(oapp)
    assert len(optimove.simulator.calls("incoming-message")) == 1, "outside OPTIMOVE_REPLY_WINDOW_HOURS"


def test_the_reply_window_counts_from_when_the_campaign_message_was_sent(oapp: Any, optimove: RunningOptimove,
                                                                         frozen: Any) -> None:
    """Queued four days before its scheduled time and sent an hour ago: the STOP is a
    reply. Queued an hour ago but not sent yet (scheduled tomorrow), or withdrawn: the
    number got nothing, so its SMS is not."""
    campaign(oapp, "DELIVERED", at=T0 - timedelta(hours=96), sent_at=T0 - timedelta(hours=1))  # to 612345670
    campaign(oapp, "QUEUED", "CANCELLED", "FAILED", at=T0 - timedelta(hours=1), batch_id="batch-456")  # 612345670-2
    inbound(oapp, "612345670", "STOP", T0, 1)
    inbound(oapp, "612345671", "ROKO U1", T0, 2)
    inbound(oapp, "612345672", "STOP", T0, 3)
    classify_all(oapp)
    run_once(oapp)
    assert [call["body"]["messages"][0]["from"] for call in optimove.simulator.calls("incoming-message")] == [
        "224612345670"]


def test_a_reply_forwarded_before_the_classifier_took_over_is_not_queued_again(oapp: Any, frozen: Any) -> None:
    """An SMS stored by the previous release, whose webhook already queued its forward,
    and classified by this one: one incoming message, not two."""
    campaign(oapp, "DELIVERED", at=T0 - timedelta(hours=1))
    sms_id = inbound(oapp, "612345670", "STOP", T0, 1)
    with oapp.app_context():
        db.session.add(OptimoveCallback(kind="incoming-message", idempotency_key=f"mo:{sms_id}", body="{}",
                                        inbound_sms_id=sms_id))
        db.session.commit()
    assert classify_all(oapp).classified == 1
    assert [(c.kind, c.inbound_sms_id) for c in callbacks(oapp) if c.kind == "incoming-message"] == [
        ("incoming-message", sms_id)]


def test_nothing_is_queued_without_an_optimove_base_url(make_app: Any, simulator: Any) -> None:
    app = make_app(**worker_config(simulator))
    campaign(app, "DELIVERED", at=datetime.now(UTC))
    inbound(app, "612345670", "STOP", datetime.now(UTC), 9)
    assert classify_all(app).classified == 1
    run_once(app)
    assert callbacks(app) == []


def test_the_handshake_command_posts_our_webhook_and_records_the_outcome(oapp: Any,
                                                                         optimove: RunningOptimove) -> None:
    result = oapp.test_cli_runner().invoke(args=["roko", "optimove", "handshake"])
    assert result.exit_code == 0, result.output
    assert "handshake sent: HTTP 200" in result.output
    (call,) = optimove.simulator.calls("handshake")
    assert call["body"] == {"campaignSendUrl": "https://roko.example/api/v1/webhooks/optimove/campaigns",
                            "aggregatorApiKey": "our-key"}
    optimove.simulator.fail(400, 1)
    refused = oapp.test_cli_runner().invoke(args=["roko", "optimove", "handshake"])
    assert refused.exit_code != 0 and "handshake dead: HTTP 400" in refused.output
    assert [row.state for row in callbacks(oapp)] == ["SENT", "DEAD"]


def test_a_worker_with_optimove_half_configured_does_not_start(make_app: Any, simulator: Any) -> None:
    app = make_app(**worker_config(simulator, OPTIMOVE_BASE_URL="http://127.0.0.1:9", OPTIMOVE_APP_API_KEY=""))
    result = app.test_cli_runner().invoke(args=["roko", "worker", "--once"])
    assert result.exit_code != 0 and "OPTIMOVE_APP_API_KEY" in result.output


def test_refusals_are_logged_without_optimoves_text(oapp: Any, optimove: RunningOptimove,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    (message_id,) = campaign(oapp, "DELIVERED")
    optimove.simulator.fail(422, 1)
    run_once(oapp)
    logged = " ".join(record.getMessage() for record in caplog.records if record.name.startswith("roko_app"))
    assert f"dlr:{message_id}:DELIVERED" in logged and "HTTP 422" in logged
    assert "simulated failure" not in logged and "612345670" not in logged
