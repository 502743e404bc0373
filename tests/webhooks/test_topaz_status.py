"""``POST /api/v1/webhooks/topaz/status``: the gateway's delivery reports (docs/topaz-gateway.md §4).

Statuses only move forward, replays and unknown messages are harmless, invalid input is a
documented 400 with nothing applied, and a report that arrives before the send's own
answer is kept when that answer is recorded (in the worker and in the send API)."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import DeliveryReport, OutboundSms
from roko_app.services import outbound
from roko_app.worker import Worker
from roko_app.worker.throttle import LocalPacer
from tests.factories import T0, add_outbound, bulk_queue, issue_key
from tests.helpers import (
    SEND_SEED_EXAMPLE,
    STATUS_URL,
    WEBHOOK_TOKEN,
    assert_documented_error,
    assert_documented_response,
    count,
    outbox,
    post_reports,
    send,
    worker_config,
)

AT = "2026-06-10T12:00:05Z"


def report(message_id: int, status: str = "delivered", **extra: Any) -> dict[str, Any]:
    return {"client_ref": f"roko-out-{message_id}", "status": status, "at": AT, **extra}


def make_message(app: Any, status: str = "SENT", gateway_sms_id: int | None = 7) -> int:
    with app.app_context():
        message = add_outbound("612345678", "Merci", T0, status=status)
        message.gateway_sms_id = gateway_sms_id
        db.session.commit()
        return message.id


def row(app: Any, message_id: int) -> OutboundSms:
    with app.app_context():
        message = db.session.get(OutboundSms, message_id)
        db.session.expunge_all()
        return message


def recorded(app: Any) -> list[tuple[str, str, bool, int | None]]:
    with app.app_context():
        return [(r.client_ref, r.status, r.applied, r.outbound_sms_id)
                for r in db.session.scalars(select(DeliveryReport).order_by(DeliveryReport.id))]


def test_a_report_moves_a_sent_message_and_is_recorded(app: Any, client: Any) -> None:
    message_id = make_message(app)
    response = post_reports(client, report(message_id, gateway_sms_id=7))
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "received": 1, "applied": 1, "unknown": 0}
    assert_documented_response(STATUS_URL, "post", response)
    message = row(app, message_id)
    assert (message.status, message.delivered_at) == ("DELIVERED", datetime(2026, 6, 10, 12, 0, 5, tzinfo=UTC))
    assert recorded(app) == [(f"roko-out-{message_id}", "delivered", True, message_id)]


def test_a_batch_maps_each_status_and_unknown_refs_are_recorded_and_ignored(app: Any, client: Any) -> None:
    failed, expired = make_message(app), make_message(app)
    body = {"reports": [report(failed, "failed", reason="absent subscriber"), report(expired, "expired"),
                        report(failed + 1000), {"client_ref": "someone-else-1", "status": "delivered", "at": AT}]}
    response = post_reports(client, body)
    assert response.get_json() == {"status": "ok", "received": 4, "applied": 2, "unknown": 2}
    assert (row(app, failed).status, row(app, failed).delivery_reason) == ("UNDELIVERED", "absent subscriber")
    assert row(app, expired).status == "EXPIRED"
    assert [(ref, applied, message) for ref, _, applied, message in recorded(app)] == [
        (f"roko-out-{failed}", True, failed), (f"roko-out-{expired}", True, expired),
        (f"roko-out-{failed + 1000}", False, None), ("someone-else-1", False, None)]


def test_replays_are_recorded_and_change_nothing(app: Any, client: Any) -> None:
    message_id = make_message(app)
    first = post_reports(client, report(message_id))
    before = row(app, message_id)
    again = post_reports(client, {"reports": [report(message_id, at="2026-06-10T13:00:00Z")] * 2})
    assert first.get_json()["applied"] == 1 and again.get_json()["applied"] == 0
    after = row(app, message_id)
    assert (after.status, after.delivered_at, after.updated_at) == (before.status, before.delivered_at,
                                                                      before.updated_at)
    assert [applied for _, _, applied, _ in recorded(app)] == [True, False, False]


@pytest.mark.parametrize(("status", "moves"), [
    ("QUEUED", True), ("SENDING", True), ("SENT", True), ("UNREPORTED", True), ("UNCERTAIN", True),
    ("FAILED", True),  # the report proves the gateway did take it
    ("DELIVERED", False), ("UNDELIVERED", False), ("EXPIRED", False),  # the first final word stays
    ("CANCELLED", False),  # never sent
])
def test_statuses_only_move_forward(app: Any, client: Any, status: str, moves: bool) -> None:
    message_id = make_message(app, status)
    response = post_reports(client, report(message_id, "failed"))
    assert response.get_json()["applied"] == int(moves)
    assert row(app, message_id).status == ("UNDELIVERED" if moves else status)


def test_a_later_contradicting_report_does_not_overwrite_the_first(app: Any, client: Any) -> None:
    message_id = make_message(app)
    response = post_reports(client, {"reports": [report(message_id, "expired"), report(message_id, "delivered")]})
    assert response.get_json()["applied"] == 1
    assert row(app, message_id).status == "EXPIRED"


def test_the_gateway_id_must_match_and_is_learnt_when_missing(app: Any, client: Any) -> None:
    known, unknown = make_message(app, gateway_sms_id=7), make_message(app, "SENDING", gateway_sms_id=None)
    response = post_reports(client, {"reports": [report(known, gateway_sms_id=8), report(unknown, gateway_sms_id=9)]})
    assert response.get_json()["applied"] == 1
    assert row(app, known).status == "SENT", "a report about another SMS is not applied"
    assert (row(app, unknown).status, row(app, unknown).gateway_sms_id) == ("DELIVERED", 9)


@pytest.mark.parametrize("token", [None, "", "wrong-token", WEBHOOK_TOKEN + "x"])
def test_the_webhook_token_is_required(app: Any, client: Any, token: str | None) -> None:
    message_id = make_message(app)
    assert_documented_error(post_reports(client, report(message_id), token=token), 401, "INVALID_WEBHOOK_TOKEN")
    assert row(app, message_id).status == "SENT" and count(app, DeliveryReport) == 0


BAD_REPORTS = [
    ({"status": "delivered", "at": AT}, "client_ref"),
    (report(1, client_ref=""), "client_ref"),
    (report(1, client_ref="r" * 65), "client_ref"),
    (report(1, client_ref=42), "client_ref"),
    (report(1, status="DELIVERED"), "status"),
    (report(1, status="sent"), "status"),
    ({"client_ref": "roko-out-1", "at": AT}, "status"),
    (report(1, at="yesterday"), "at"),
    (report(1, at="2026-06-10"), "at"),
    (report(1, at="10000-01-01T00:00:00Z"), "at"),
    ({"client_ref": "roko-out-1", "status": "delivered"}, "at"),
    (report(1, gateway_sms_id=-1), "gateway_sms_id"),
    (report(1, gateway_sms_id="7"), "gateway_sms_id"),
    (report(1, gateway_sms_id=True), "gateway_sms_id"),
    (report(1, reason="x" * 1001), "reason"),
    (report(1, reason=5), "reason"),
]


@pytest.mark.parametrize(("body", "field"), BAD_REPORTS)
def test_an_invalid_report_is_a_documented_400(app: Any, client: Any, body: dict[str, Any], field: str) -> None:
    make_message(app)  # roko-out-1 may well exist: nothing is applied to it either way
    response = post_reports(client, body)
    error = assert_documented_error(response, 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["details"]]
    assert_documented_response(STATUS_URL, "post", response)
    assert count(app, DeliveryReport) == 0


def test_null_optional_fields_are_accepted(client: Any) -> None:
    assert post_reports(client, report(1, reason=None, gateway_sms_id=None)).status_code == 200


def test_one_invalid_report_in_a_batch_applies_none(app: Any, client: Any) -> None:
    message_id = make_message(app)
    error = assert_documented_error(post_reports(client, {"reports": [report(message_id), report(message_id, "sent")]}),
                                    400, "VALIDATION_ERROR")
    assert [d["field"] for d in error["details"]] == ["reports[1].status"]
    assert row(app, message_id).status == "SENT" and count(app, DeliveryReport) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"reports": []}, "reports"),
    ({"reports": {"client_ref": "roko-out-1"}}, "reports"),
    ({"reports": None}, "reports"),
    ({"reports": [report(1)] * 4}, "reports"),  # over DLR_MAX_REPORTS (3 here)
    ({"reports": ["roko-out-1"]}, "reports[0]"),
    ({"reports": [report(1)], "status": "delivered"}, "status"),
])
def test_a_bad_batch_is_a_documented_400(make_app: Any, body: dict[str, Any], field: str) -> None:
    app = make_app(DLR_MAX_REPORTS=3)
    error = assert_documented_error(post_reports(app.test_client(), body), 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["details"]]
    assert count(app, DeliveryReport) == 0


def test_the_batch_limit_itself_is_accepted(make_app: Any) -> None:
    app = make_app(DLR_MAX_REPORTS=3)
    response = post_reports(app.test_client(), {"reports": [report(1)] * 3})
    assert response.get_json()["received"] == 3


def test_a_body_over_the_limit_is_413(make_app: Any) -> None:
    app = make_app(DLR_MAX_BODY=1000)
    body = {"reports": [report(1)] * 20}
    assert len(json.dumps(body)) > 1000
    assert_documented_error(post_reports(app.test_client(), body), 413, "PAYLOAD_TOO_LARGE")
    assert count(app, DeliveryReport) == 0


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                       max_size=4), max_leaves=15)
near_reports = st.fixed_dictionaries({}, optional={"client_ref": json_values | st.just("roko-out-1"),
                                                   "status": json_values | st.sampled_from(["delivered", "failed"]),
                                                   "at": json_values | st.just(AT), "gateway_sms_id": json_values,
                                                   "reason": json_values})


def test_arbitrary_json_never_gets_a_5xx(app: Any) -> None:
    client = app.test_client()

    @seed(20261126)
    @settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=json_values | near_reports | st.builds(lambda items: {"reports": items}, st.lists(near_reports | json_values,
                                                                                                  max_size=3)))
    def answers_as_documented(body: Any) -> None:
        response = client.post(STATUS_URL, data=json.dumps(body), content_type="application/json",
                               headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN})
        assert response.status_code in (200, 400), response.get_data()
        assert_documented_response(STATUS_URL, "post", response)

    answers_as_documented()


# --- a report before the send's answer ------------------------------------------------


class ReportingFirstClient:
    """Sends through the real client; before handing back the gateway's answer, the
    gateway's delivery report for that SMS reaches the webhook (another thread, as
    another request would)."""

    def __init__(self, app: Any, status: str = "delivered") -> None:
        self.real = app.extensions["topaz"]
        self.app, self.status = app, status
        self.connect_timeout, self.read_timeout = self.real.connect_timeout, self.real.read_timeout

    def send(self, **kwargs: Any) -> Any:
        result = self.real.send(**kwargs)
        answers: list[Any] = []
        body = {"client_ref": kwargs["client_ref"], "gateway_sms_id": result.gateway_sms_id, "status": self.status,
                "at": AT}
        thread = threading.Thread(target=lambda: answers.append(post_reports(self.app.test_client(), body)))
        thread.start()
        thread.join(timeout=10)
        assert answers and answers[0].get_json()["applied"] == 1
        return result

    def close(self) -> None:
        self.real.close()


def test_the_workers_late_send_answer_does_not_move_a_reported_message_back(make_app: Any, simulator: Any) -> None:
    app = make_app(**worker_config(simulator))
    (message_id,) = bulk_queue(app, 1)
    with app.app_context():
        worker = Worker(ReportingFirstClient(app, "failed"), outbound.RetryPolicy.from_config(app.config),  # type: ignore[arg-type]
                        LocalPacer(0))
        stats = worker.run(once=True)
    assert (stats.sent, stats.lost) == (1, 0)
    (message,) = outbox(app)
    assert (message.status, message.gateway_sms_id, message.attempts) == ("UNDELIVERED", 1, 1)
    assert message.sent_at is not None and message.lease_expires_at is None, "the answer still says when it went out"


def test_the_send_apis_late_answer_does_not_move_a_reported_message_back(make_app: Any, simulator: Any) -> None:
    app = make_app(**worker_config(simulator))
    app.extensions["topaz"] = ReportingFirstClient(app)
    response = send(app, SEND_SEED_EXAMPLE, issue_key(app))
    assert response.status_code == 200
    assert_documented_response("/api/v1/sms/send", "post", response)
    assert response.get_json()["status"] == "DELIVERED"
    (message,) = outbox(app)
    assert (message.status, message.gateway_sms_id) == ("DELIVERED", 1)


def test_concurrent_contradicting_reports_through_a_real_server_apply_once(app: Any, live_server: Any) -> None:
    """Eight reports for each of 20 messages at once, half delivered, half failed: each
    message takes exactly one, and every report is recorded (PostgreSQL or SQLite)."""
    ids = [make_message(app) for _ in range(20)]
    url = live_server(workers=2, threads=8) + STATUS_URL
    bodies = [report(message_id, "delivered" if i % 2 else "failed") for message_id in ids for i in range(8)]

    def post(body: dict[str, Any]) -> int:
        response = requests.post(url, json=body, headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN}, timeout=30)
        assert response.status_code == 200, response.text
        return int(response.json()["applied"])

    with ThreadPoolExecutor(16) as pool:
        applied = list(pool.map(post, bodies))
    assert sum(applied) == len(ids), "one report applied per message"
    assert {row(app, message_id).status for message_id in ids} <= {"DELIVERED", "UNDELIVERED"}
    reports = recorded(app)
    assert len(reports) == len(bodies)
    for message_id in ids:
        winners = [status for ref, status, applied, _ in reports if applied and ref == f"roko-out-{message_id}"]
        assert len(winners) == 1
        assert row(app, message_id).status == {"delivered": "DELIVERED", "failed": "UNDELIVERED"}[winners[0]]
