"""``GET /metrics`` (issue 15, item 1): the families appear and move as SMS flow, the
queue gauges follow the database, labels never hold a number or a text, the token rules
both ways, and gunicorn workers add up through prometheus_client's multiprocess mode."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from roko_app import ConfigError, create_app
from roko_app.extensions import db
from roko_app.models import InboundSms, OptimoveCallback, OutboundSms, User
from roko_app.optimove.simulator import start_in_thread
from roko_app.services import classify, optimove_callbacks
from tests.factories import PASSWORD, add_sms, bulk_queue, make_user, register_codes
from tests.helpers import (
    VALID_BODIES,
    WEBHOOK_TOKEN,
    api_config,
    base_config,
    body_with,
    classify_all,
    post,
    post_login,
    post_raw,
    post_reports,
    run_once,
    text_in,
    worker_config,
)

NUMBER = "612345678"
TEXT = "ROKO U12345678"
PROD = {"ENV": "prod", "TOPAZ_URL": "http://127.0.0.1:9", "TOPAZ_TOKEN": "t", "CODE_KEY": "k",
        "OPTIMOVE_API_KEY": "om", "OPTIMOVE_HMAC_SECRET": "oms"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(client: Any, **headers: str) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


# --- the families move as SMS flow -------------------------------------------------------------


def test_inbound_sms_are_counted_by_result_and_reason(make_app: Any) -> None:
    client = make_app(INBOUND_PORTS="17").test_client()
    before = scrape(client)
    assert post(client, body_with(gateway_sms_id=1)).status_code == 200
    assert post(client, body_with(gateway_sms_id=1)).status_code == 200  # the gateway's replay
    assert post(client, body_with(gateway_sms_id=2), token="wrong").status_code == 401
    assert post(client, body_with(gateway_sms_id=3, port=4)).status_code == 422
    assert post(client, body_with(gateway_sms_id=4, sender="x")).status_code == 400
    after = scrape(client)
    total = "roko_inbound_sms_total"
    assert moved(before, after, total, result="stored", reason="") == 1
    assert moved(before, after, total, result="replay", reason="") == 1
    assert moved(before, after, total, result="rejected", reason="INVALID_WEBHOOK_TOKEN") == 1
    assert moved(before, after, total, result="rejected", reason="PORT_NOT_ALLOWED") == 1
    assert moved(before, after, total, result="rejected", reason="VALIDATION_ERROR") == 1


def test_request_durations_are_by_route_template_and_no_label_holds_a_number_or_text(app: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    post(client, body_with(gateway_sms_id=7, sender=NUMBER, text=TEXT))
    client.get(f"/console/farmers/{NUMBER}")
    client.get(f"/no/such/page/{NUMBER}")
    response = client.get("/metrics")
    after = parse(response.get_data(as_text=True))
    count = "roko_http_request_duration_seconds_count"
    assert moved(before, after, count, method="POST", route="/api/v1/webhooks/topaz/inbound", status="200") == 1
    assert moved(before, after, count, method="GET", route="/console/farmers/<msisdn>", status="302") == 1
    assert moved(before, after, count, method="GET", route="<unmatched>", status="404") == 1
    text = response.get_data(as_text=True)
    assert NUMBER not in text and "U12345678" not in text


def test_a_method_of_a_client_s_own_adds_no_series(app: Any) -> None:
    client = app.test_client()
    before = scrape(client)
    for word in ("QX0ABCDEF", "QX1ABCDEF", "PROPFIND"):
        assert client.open("/healthz", method=word).status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    assert "QX0ABCDEF" not in text and "PROPFIND" not in text
    assert moved(before, parse(text), "roko_http_request_duration_seconds_count", method="other",
                 route="<unmatched>", status="405") == 3


def test_the_queue_gauges_follow_the_database(app: Any, simulator: Any, make_app: Any) -> None:
    client = app.test_client()
    now = datetime.now(UTC)
    empty = scrape(client)
    assert value(empty, "roko_database_up") == 1
    assert value(empty, "roko_classification_lag_seconds") == 0
    assert value(empty, "roko_outbox_messages", status="QUEUED", priority="0") == 0
    with app.app_context():
        add_sms(NUMBER, TEXT, now - timedelta(seconds=30))
        parked = add_sms("622222222", "ROKO ?", now - timedelta(hours=2))
        parked.parked_at = now
        db.session.commit()
    bulk_queue(app, 3, now=now - timedelta(seconds=60))
    samples = scrape(client)
    assert 30 <= value(samples, "roko_classification_lag_seconds") < 45, "the parked SMS is left out"
    assert value(samples, "roko_inbound_sms_parked") == 1
    assert value(samples, "roko_outbox_messages", status="QUEUED", priority="0") == 3
    assert 60 <= value(samples, "roko_outbox_oldest_due_age_seconds", priority="0") < 75
    assert value(samples, "roko_outbox_oldest_due_age_seconds", priority="10") == 0

    classify_all(app)  # the reply is queued at once, due now
    samples = scrape(client)
    assert value(samples, "roko_classification_lag_seconds") == 0
    assert value(samples, "roko_outbox_messages", status="QUEUED", priority="10") == 1

    run_once(make_app(**worker_config(simulator)))  # everything due is sent
    samples = scrape(client)
    assert all(value(samples, "roko_outbox_messages", status="QUEUED", priority=p) == 0 for p in ("0", "5", "10"))
    assert value(samples, "roko_outbox_oldest_due_age_seconds", priority="0") == 0


def test_optimove_intake_is_counted(make_app: Any, simulator: Any) -> None:
    client = make_app(**api_config(simulator.url)).test_client()
    raw = json.dumps(VALID_BODIES["optimove"]).encode()
    two = dict(VALID_BODIES["optimove"], batchId="batch-two", recipients=[
        {"message": "Bonjour", "mobileNumber": "+224612345678", "customerId": "c1"},
        {"message": "Bonjour", "mobileNumber": "not a number", "customerId": "c2"},
        {"message": "x" * 161, "mobileNumber": "+224612345679", "customerId": "c4"}])
    before = scrape(client)
    assert post_raw(client, "optimove", raw, api_key="").status_code == 200
    assert post_raw(client, "optimove", raw, api_key="").status_code == 200  # a replay
    assert post_raw(client, "optimove", json.dumps(two).encode(), api_key="").status_code == 200
    nobody = dict(VALID_BODIES["optimove"], batchId="batch-nobody",
                  recipients=[{"message": "Bonjour", "mobileNumber": "12", "customerId": "c3"}])
    assert post_raw(client, "optimove", json.dumps(nobody).encode(), api_key="").status_code == 422
    assert post_raw(client, "optimove", b'{"metadata": 1}', api_key="").status_code == 400
    forged = client.post("/api/v1/webhooks/optimove/campaigns", data=raw, content_type="application/json",
                         headers={"X-API-Key": api_config(simulator.url)["OPTIMOVE_API_KEY"],
                                  "x-hub-signature": "sha256=" + "0" * 64})
    assert forged.status_code == 401
    after = scrape(client)
    assert moved(before, after, "roko_optimove_batches_total", result="accepted") == 2
    assert moved(before, after, "roko_optimove_batches_total", result="replay") == 1
    assert moved(before, after, "roko_optimove_batches_total", result="invalid") == 1
    assert moved(before, after, "roko_optimove_recipients_total", result="accepted", reason="") == 2
    assert moved(before, after, "roko_optimove_batches_total", result="undeliverable") == 1
    assert moved(before, after, "roko_optimove_recipients_total", result="rejected", reason="INVALID_NUMBER") == 2
    assert moved(before, after, "roko_optimove_recipients_total", result="rejected", reason="TEXT_TOO_LONG") == 1
    assert moved(before, after, "roko_optimove_recipients_total", result="rejected", reason="EMPTY_MESSAGE") == 0
    assert moved(before, after, "roko_optimove_auth_failures_total", reason="INVALID_SIGNATURE") == 1


# --- who may read them ---------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "test"])
def test_dev_and_test_serve_them_without_a_token(make_app: Any, env: str) -> None:
    assert make_app(ENV=env).test_client().get("/metrics").status_code == 200


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_stage_and_prod_without_a_token_do_not_serve_them(make_app: Any, env: str) -> None:
    client = make_app(**{**PROD, "ENV": env}).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("env", ["test", "prod"])
@pytest.mark.parametrize(("authorization", "status"), [
    (None, 401), ("Bearer wrong-token", 401), ("Bearer s3cret-metrics-tokeN", 401), ("Basic czNjcmV0", 401),
    ("s3cret-metrics-token", 401), ("Bearer s3cret-metrics-token", 200), ("bearer  s3cret-metrics-token", 200),
])
def test_with_a_token_only_the_bearer_of_it_reads_them(make_app: Any, env: str, authorization: str | None,
                                                      status: int) -> None:
    client = make_app(**{**PROD, "ENV": env}, METRICS_TOKEN="s3cret-metrics-token").test_client()
    response = client.get("/metrics", headers={"Authorization": authorization} if authorization else {})
    assert response.status_code == status
    if status == 401:
        assert response.get_json()["code"] == "INVALID_METRICS_TOKEN"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "roko_" not in response.get_data(as_text=True)


def test_a_missing_multiprocess_folder_stops_the_start(database_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "absent"))
    with pytest.raises(ConfigError, match="PROMETHEUS_MULTIPROC_DIR"):
        create_app(base_config(database_url))


# --- every gunicorn worker counted --------------------------------------------------------------


def test_gunicorn_workers_add_up_in_multiprocess_mode(live_server: Any, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    url = live_server(workers=2, threads=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    sent = 0

    def writers() -> set[str]:  # the pids that wrote a counter or histogram file
        return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}

    def post_one(gateway_sms_id: int) -> int:
        return requests.post(f"{url}/api/v1/webhooks/topaz/inbound", json=body_with(gateway_sms_id=gateway_sms_id),
                             headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN, "Connection": "close"},
                             timeout=10).status_code

    with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
        # eight at a time, more than one worker's two threads take at once, until both took some
        while sent < 16 or (len(writers()) < 2 and sent < 400):
            assert list(pool.map(post_one, range(900 + sent, 908 + sent))) == [200] * 8
            sent += 8
        scrapes = [parse(session.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10).text)
                   for _ in range(6)]
    assert len(writers()) == 2, sorted(p.name for p in metrics_dir.iterdir())
    for samples in scrapes:  # whichever worker answers the scrape, it counts every worker's requests
        assert value(samples, "roko_inbound_sms_total", result="stored", reason="") == sent
        assert value(samples, "roko_http_request_duration_seconds_count", method="POST",
                     route="/api/v1/webhooks/topaz/inbound", status="200") == sent


def test_classification_sends_and_delivery_reports_are_counted(make_app: Any, simulator: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The back end's families (roko_app/metrics.py): classification outcomes and failures,
    send attempts by result and port with the gateway's answer time, delivery reports by
    status and by what they did."""
    app = make_app(**worker_config(simulator))
    register_codes(app, "U12345678")
    client = app.test_client()
    before = scrape(client)
    valid = text_in(app, TEXT, classify=False)
    text_in(app, "bonjour", "622334455", classify=False)
    text_in(app, "ROKO U99999999", "633445566", classify=False)

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug in the rules")

    monkeypatch.setattr(classify, "parse_message", broken)
    classify_all(app)  # every classification raises: each SMS goes back to the queue
    failed = scrape(client)
    assert moved(before, failed, "roko_classify_failures_total", result="retry") == 3
    monkeypatch.undo()
    with app.app_context():
        db.session.execute(update(InboundSms).values(classify_after=None))  # due again at once
        db.session.commit()
    classify_all(app)
    run_once(app)
    with app.app_context():
        reply = db.session.scalars(select(OutboundSms).where(OutboundSms.reply_to_sms_id == valid)).one()
    answer = post_reports(client, {"reports": [
        {"client_ref": f"roko-out-{reply.id}", "gateway_sms_id": reply.gateway_sms_id, "status": "delivered",
         "at": "2026-05-15T10:30:05Z"},
        {"client_ref": "roko-out-999999", "status": "failed", "at": "2026-05-15T10:30:05Z"}]})
    assert answer.status_code == 200, answer.get_json()
    after = scrape(client)
    assert moved(before, after, "roko_classified_sms_total", outcome="VALID_FIRST") == 1
    assert moved(before, after, "roko_classified_sms_total", outcome="BAD_FORMAT") == 1
    assert moved(before, after, "roko_classified_sms_total", outcome="INVALID_CODE") == 1
    assert moved(before, after, "roko_gateway_sends_total", result="sent", port="17") == 3
    assert moved(before, after, "roko_gateway_request_duration_seconds_count", call="send") == 3
    assert moved(before, after, "roko_delivery_reports_total", status="delivered", result="applied") == 1
    assert moved(before, after, "roko_delivery_reports_total", status="failed", result="unknown") == 1


# --- Optimove callbacks and log-in failures -----------------------------------------------------


def test_optimove_callbacks_are_gauged_by_state_and_their_attempts_counted(make_app: Any) -> None:
    """Pending and dead calls to Optimove come from the database at each scrape; each call
    the sender makes is counted by kind and outcome (sent, retry on 5xx, dead on 4xx)."""
    with start_in_thread("app-key", "secret") as optimove:
        app = make_app(OPTIMOVE_BASE_URL=optimove.url + "/", OPTIMOVE_APP_API_KEY="app-key",
                       OPTIMOVE_HMAC_SECRET="secret")
        client = app.test_client()
        before = scrape(client)
        now = datetime.now(UTC)
        with app.app_context():
            for i, kind in enumerate(["delivery-report"] * 3 + ["incoming-message", "handshake"]):
                db.session.add(OptimoveCallback(kind=kind, idempotency_key=f"metrics:{i}", body="{}", state="PENDING",
                                                attempts=0, next_attempt_at=now, created_at=now))
            db.session.add(OptimoveCallback(kind="delivery-report", idempotency_key="metrics:sent", body="{}",
                                            state="SENT", attempts=1, next_attempt_at=now, created_at=now))
            db.session.commit()
        queued = scrape(client)
        assert value(queued, "roko_optimove_callbacks_pending", kind="delivery-report") == 3
        assert value(queued, "roko_optimove_callbacks_pending", kind="incoming-message") == 1
        assert value(queued, "roko_optimove_callbacks_pending", kind="handshake") == 1
        assert value(queued, "roko_optimove_callbacks_dead", kind="delivery-report") == 0

        with app.app_context():
            optimove.simulator.fail(503, 1)  # the first delivery report: retried later
            counts = optimove_callbacks.send_due(optimove_callbacks.client_from_config(app.config), now)
            assert counts == {"sent": 4, "retry": 1, "dead": 0}
            optimove.simulator.fail(422, 1)  # its second attempt: refused for good
            later = now + timedelta(hours=2)
            assert optimove_callbacks.send_due(optimove_callbacks.client_from_config(app.config), later)["dead"] == 1
        after = scrape(client)
    assert value(after, "roko_optimove_callbacks_pending", kind="delivery-report") == 0
    assert value(after, "roko_optimove_callbacks_pending", kind="handshake") == 0
    assert value(after, "roko_optimove_callbacks_dead", kind="delivery-report") == 1
    attempts = "roko_optimove_callback_attempts_total"
    assert moved(before, after, attempts, kind="delivery-report", outcome="sent") == 2
    assert moved(before, after, attempts, kind="delivery-report", outcome="retry") == 1
    assert moved(before, after, attempts, kind="delivery-report", outcome="dead") == 1
    assert moved(before, after, attempts, kind="incoming-message", outcome="sent") == 1
    assert moved(before, after, attempts, kind="handshake", outcome="sent") == 1


def test_login_failures_are_counted_by_reason_without_the_email_or_address(make_app: Any) -> None:
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS=2, LOGIN_MAX_FAILURES_PER_ADDRESS=100,
                   LOGIN_MAX_FAILURES_PER_ACCOUNT=3, LOGIN_WINDOW_MINUTES=10)
    make_user(app, "operator@roko.test", "viewer")
    make_user(app, "retired@roko.test", "viewer")
    with app.app_context():
        db.session.scalars(select(User).where(User.email == "retired@roko.test")).one().active = False
        db.session.commit()

    def attempt(email: str, password: str, address: str) -> int:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return post_login(client, email, password).status_code

    scraper = app.test_client()
    before = scrape(scraper)
    assert attempt("operator@roko.test", PASSWORD, "10.0.0.1") == 302  # a success is no failure
    assert attempt("operator@roko.test", "wrong password", "10.0.0.1") == 200
    assert attempt("nobody@roko.test", PASSWORD, "10.0.0.1") == 200
    assert attempt("retired@roko.test", PASSWORD, "10.0.0.1") == 200
    middle = scrape(scraper)
    assert moved(before, middle, "roko_login_failures_total", reason="wrong_password") == 1
    assert moved(before, middle, "roko_login_failures_total", reason="unknown_account") == 1
    assert moved(before, middle, "roko_login_failures_total", reason="inactive_account") == 1
    assert moved(before, middle, "roko_login_failures_total", reason="throttled_address") == 0

    assert attempt("operator@roko.test", "wrong again", "10.0.0.1") == 200  # the pair's limit (2) reached
    assert attempt("operator@roko.test", PASSWORD, "10.0.0.1") == 429
    assert attempt("operator@roko.test", "a third guess", "10.0.0.2") == 200  # the account's limit (3) reached
    assert attempt("operator@roko.test", PASSWORD, "10.0.0.3") == 429
    response = scraper.get("/metrics")
    after = parse(response.get_data(as_text=True))
    assert moved(before, after, "roko_login_failures_total", reason="wrong_password") == 3
    assert moved(before, after, "roko_login_failures_total", reason="throttled_address") == 1
    assert moved(before, after, "roko_login_failures_total", reason="throttled_account") == 1
    text = response.get_data(as_text=True)
    assert "roko.test" not in text and "10.0.0." not in text
