"""POST /api/v1/sms/send (seed 000, send half) against the Topaz simulator on loopback."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import OutboundSms
from tests.factories import issue_key
from tests.helpers import SEND_SEED_EXAMPLE, SEND_URL, SIM_TOKEN, assert_error, send


def rows(app: Any) -> list[OutboundSms]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def test_seed_example_is_sent_through_the_gateway(send_app: Any, api_key: str, simulator: Any) -> None:
    response = send(send_app, SEND_SEED_EXAMPLE, api_key)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    (row,) = rows(send_app)
    (sent,) = simulator.sent()
    assert body == {"sms_id": row.id, "status": "SENT", "gateway_sms_id": sent["gateway_sms_id"], "reason": None}
    assert (sent["to"], sent["text"], sent["port"], sent["encoding"]) == ("612345678", SEND_SEED_EXAMPLE["text"], 17, "GSM-7")
    assert sent["client_ref"] == f"roko-out-{row.id}"
    assert (row.status, row.attempts, row.gateway_sms_id) == ("SENT", 1, sent["gateway_sms_id"])
    assert (row.template_key, row.caller, row.encoding, row.units) == ("VALID_FIRST", "ops-dashboard", "GSM-7", 36)
    assert row.sent_at is not None and row.lease_expires_at is None


@pytest.mark.parametrize(("given", "normalised"), [
    ("612345678", "612345678"), ("224612345678", "612345678"), ("+224 612 34 56 78", "612345678"),
    ("00224-612.345.678", "612345678"),
])
def test_phone_number_is_normalised(send_app: Any, api_key: str, simulator: Any, given: str, normalised: str) -> None:
    assert send(send_app, {**SEND_SEED_EXAMPLE, "phone_number": given}, api_key).status_code == 200
    assert simulator.sent()[0]["to"] == normalised


@pytest.mark.parametrize("number", ["712345678", "61234567", "6123456789", "+33612345678", "61234567a", "", "+224"])
def test_invalid_phone_number_is_400_saying_why(send_app: Any, api_key: str, simulator: Any, number: str) -> None:
    body = assert_error(send(send_app, {**SEND_SEED_EXAMPLE, "phone_number": number}, api_key), 400, "VALIDATION_ERROR")
    (detail,) = body["details"]
    assert detail["field"] == "phone_number" and detail["problem"]
    assert rows(send_app) == [] and simulator.sent() == []


@pytest.mark.parametrize(("text", "encoding", "units", "limit"), [
    ("a" * 161, "GSM-7", 161, 160),
    ("€" * 81, "GSM-7", 162, 160),
    ("reçu " + "a" * 66, "UCS-2", 71, 70),
    ("🎉" * 36, "UCS-2", 72, 70),
])
def test_text_over_one_segment_is_400_naming_encoding_and_limit(send_app: Any, api_key: str, simulator: Any,
                                                                 text: str, encoding: str, units: int, limit: int) -> None:
    body = assert_error(send(send_app, {**SEND_SEED_EXAMPLE, "text": text}, api_key), 400, "TEXT_TOO_LONG")
    assert (body["encoding"], body["units"], body["limit"]) == (encoding, units, limit)
    assert body["segments"] == 2
    assert body["details"][0]["field"] == "text"
    assert encoding in body["message"] and str(limit) in body["message"]
    assert rows(send_app) == [] and simulator.sent() == []


@pytest.mark.parametrize("length", [1600, 1601, 10_000])
def test_a_text_of_any_length_over_one_segment_is_text_too_long(send_app: Any, api_key: str, simulator: Any,
                                                                length: int) -> None:
    """As documented: whatever its length (within the body limit), TEXT_TOO_LONG with the count."""
    body = assert_error(send(send_app, {**SEND_SEED_EXAMPLE, "text": "a" * length}, api_key), 400, "TEXT_TOO_LONG")
    assert (body["encoding"], body["units"], body["limit"]) == ("GSM-7", length, 160)
    assert rows(send_app) == [] and simulator.sent() == []


@pytest.mark.parametrize("text", ["a" * 160, "€" * 80, "reçu " + "a" * 65, "🎉" * 35])
def test_text_exactly_one_segment_is_sent(send_app: Any, api_key: str, simulator: Any, text: str) -> None:
    assert send(send_app, {**SEND_SEED_EXAMPLE, "text": text}, api_key).status_code == 200
    assert simulator.sent()[0]["text"] == text


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": ""}, "text"), ({"text": "   "}, "text"), ({"text": 5}, "text"), ({"text": None}, "text"),
    ({"phone_number": 612345678}, "phone_number"), ({"template_key": "k" * 31}, "template_key"),
    ({"template_key": 3}, "template_key"),
])
def test_field_violations_are_400(send_app: Any, api_key: str, changes: dict[str, Any], field: str) -> None:
    body = assert_error(send(send_app, {**SEND_SEED_EXAMPLE, **changes}, api_key), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == [field]
    assert rows(send_app) == []


@pytest.mark.parametrize("missing", ["phone_number", "text"])
def test_required_fields(send_app: Any, api_key: str, missing: str) -> None:
    body = {k: v for k, v in SEND_SEED_EXAMPLE.items() if k != missing}
    assert_error(send(send_app, body, api_key), 400, "VALIDATION_ERROR")


def test_template_key_is_optional_and_30_characters_fit(send_app: Any, api_key: str, simulator: Any) -> None:
    assert send(send_app, {"phone_number": "612345678", "text": "Bonjour"}, api_key).status_code == 200
    assert send(send_app, {**SEND_SEED_EXAMPLE, "template_key": "k" * 30}, api_key).status_code == 200
    assert [r.template_key for r in rows(send_app)] == [None, "k" * 30]


def test_missing_unknown_and_revoked_keys_are_401(send_app: Any, api_key: str, simulator: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="roko_app")
    assert_error(send(send_app, SEND_SEED_EXAMPLE, None), 401, "INVALID_API_KEY")
    assert_error(send(send_app, SEND_SEED_EXAMPLE, "roko_" + "x" * 43), 401, "INVALID_API_KEY")
    assert_error(send(send_app, SEND_SEED_EXAMPLE, api_key + "x"), 401, "INVALID_API_KEY")
    assert send(send_app, SEND_SEED_EXAMPLE, api_key).status_code == 200
    result = send_app.test_cli_runner().invoke(args=["roko", "api-key", "revoke", "ops-dashboard"])
    assert result.exit_code == 0, result.output
    assert_error(send(send_app, SEND_SEED_EXAMPLE, api_key), 401, "INVALID_API_KEY")
    assert len(simulator.sent()) == 1
    assert api_key not in caplog.text


def test_gateway_rejection_is_422_failed_with_reason(send_app: Any, api_key: str, simulator: Any) -> None:
    simulator.set(mode="reject")
    response = send(send_app, SEND_SEED_EXAMPLE, api_key)
    assert response.status_code == 422
    body = response.get_json()
    (row,) = rows(send_app)
    assert body["status"] == "FAILED" and body["code"] == "GATEWAY_REJECTED"
    assert body["sms_id"] == row.id and body["gateway_sms_id"] is None
    assert "simulated rejection" in body["reason"]
    assert row.status == "FAILED" and "simulated rejection" in row.last_error


@pytest.mark.parametrize("outage", ["down", "timeout", "unreachable"])
def test_gateway_outage_leaves_the_message_queued_202(send_app: Any, api_key: str, simulator: Any, outage: str) -> None:
    if outage == "down":
        simulator.set(mode="down")
    elif outage == "timeout":
        simulator.set(latency_ms=1500)  # longer than the 0.5 s read timeout
    else:
        simulator.stop()
    response = send(send_app, SEND_SEED_EXAMPLE, api_key)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    (row,) = rows(send_app)
    assert body["status"] == "QUEUED" and body["sms_id"] == row.id and body["gateway_sms_id"] is None
    assert body["reason"]
    assert (row.status, row.attempts) == ("QUEUED", 1)
    assert row.next_attempt_at > row.created_at  # backed off, for the worker
    assert row.lease_expires_at is None


def test_a_timed_out_send_retried_with_its_client_ref_is_not_sent_twice(send_app: Any, api_key: str,
                                                                         simulator: Any) -> None:
    """The gateway got the first call but the answer came too late: the retry (same
    client_ref) is dropped by the gateway as a duplicate."""
    from roko_app.services import outbound

    simulator.set(latency_ms=1500)
    assert send(send_app, SEND_SEED_EXAMPLE, api_key).status_code == 202
    simulator.set(latency_ms=0)
    with send_app.app_context():
        (row,) = db.session.scalars(select(OutboundSms))
        policy = outbound.RetryPolicy.from_config(send_app.config)
        outbound.start_attempt(row, policy)
        db.session.commit()
        result = outbound.deliver(row, send_app.extensions["topaz"], policy)
        db.session.commit()
        assert result.is_sent and row.status == "SENT" and row.attempts == 2
    assert len(simulator.sent()) == 1


def test_unknown_method_is_json_405(send_app: Any) -> None:
    assert_error(send_app.test_client().get(SEND_URL), 405, "METHOD_NOT_ALLOWED")


def test_counts_rows_once_per_request(send_app: Any, api_key: str, simulator: Any) -> None:
    for _ in range(3):
        send(send_app, SEND_SEED_EXAMPLE, api_key)
    with send_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboundSms)) == 3
    assert len(simulator.sent()) == 3


def test_sends_are_paced_per_sim_port_like_the_worker_s(make_app: Any, simulator: Any) -> None:
    """TOPAZ_RATE_PER_PORT applies to the send API too: the first SMS goes at once, the
    next ones (their slot a second or more away) are left QUEUED for the worker, 202."""
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_SEND_PORT=17, TOPAZ_RATE_PER_PORT=1)
    key = issue_key(app)
    answers = [send(app, {**SEND_SEED_EXAMPLE, "phone_number": f"61234567{i}"}, key) for i in range(3)]
    assert [answer.status_code for answer in answers] == [200, 202, 202]
    assert [answer.get_json()["status"] for answer in answers] == ["SENT", "QUEUED", "QUEUED"]
    assert "SIM port is busy" in answers[1].get_json()["reason"]
    assert len(simulator.sent()) == 1
    assert [r.status for r in rows(app)] == ["SENT", "QUEUED", "QUEUED"]
    # a slot at most half a second away is waited for: at 4 SMS/s the next one goes inline
    fast = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_SEND_PORT=18, TOPAZ_RATE_PER_PORT=4)
    fast_key = issue_key(fast, "fast")
    assert [send(fast, SEND_SEED_EXAMPLE, fast_key).status_code for _ in range(2)] == [200, 200]
