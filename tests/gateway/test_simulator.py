"""The Topaz simulator, exercised over real HTTP on loopback ports."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests

from roko_app.gateway.simulator import RunningSimulator, start_in_thread
from tests.helpers import openapi_spec, resolve_refs

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sim-secret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SEND_PATH = "/api/v1/send"
INBOUND_PATH = "/api/v1/webhooks/topaz/inbound"
HOOK_TOKEN = "hook-secret-token"


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_ref": "roko-out-1",
        "port": 17,
        "to": "612345678",
        "text": "Merci pour votre participation ROKO.",
        "encoding": "GSM-7",
    }
    body.update(overrides)
    return body


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread(token=TOKEN) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def post_send(http: requests.Session, sim: RunningSimulator, body: Any, headers: dict[str, str] | None = None):
    return http.post(sim.url + SEND_PATH, json=body, headers=AUTH if headers is None else headers, timeout=5)


# -- the command line ---------------------------------------------------------------


def test_cli_entry_point_serves_and_exits_cleanly_on_sigterm(http: requests.Session) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "roko_app.gateway.simulator", "--port", str(port), "--token", TOKEN]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if http.get(url + "/health", timeout=0.5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the simulator did not come up within 10 s"
            time.sleep(0.05)

        answer = http.post(url + SEND_PATH, json=send_body(), headers=AUTH, timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"status": "sent", "gateway_sms_id": 1, "duplicate": False}
        assert http.post(url + SEND_PATH, json=send_body(), timeout=5).status_code == 401
    finally:
        proc.terminate()  # SIGTERM
        stdout, stderr = proc.communicate(timeout=10)

    assert proc.returncode == 0, stderr
    assert stdout.splitlines()[0].startswith(f"Topaz simulator listening on {url} (auth on")
    assert TOKEN not in stdout + stderr


# -- send -------------------------------------------------------------------------


def test_accepted_send_is_recorded_and_listed(sim: RunningSimulator, http: requests.Session) -> None:
    first = post_send(http, sim, send_body())
    second = post_send(http, sim, send_body(client_ref="roko-out-2", to="622000111", encoding="UCS-2", port=3))

    assert first.status_code == 200
    assert first.json() == {"status": "sent", "gateway_sms_id": 1, "duplicate": False}
    assert second.json() == {"status": "sent", "gateway_sms_id": 2, "duplicate": False}
    listed = http.get(sim.url + "/sent", timeout=5).json()["messages"]
    assert [m["gateway_sms_id"] for m in listed] == [1, 2]
    assert sim.sent() == listed
    first_record = dict(listed[0])
    received_at = first_record.pop("received_at")
    assert first_record == {**send_body(), "gateway_sms_id": 1, "status": "sent"}
    assert received_at.endswith("Z")
    assert abs((datetime.now(UTC) - datetime.fromisoformat(received_at)).total_seconds()) < 10

    only = http.get(sim.url + "/sent", params={"to": "622000111"}, timeout=5).json()["messages"]
    assert [m["client_ref"] for m in only] == ["roko-out-2"]
    assert only[0]["port"] == 3 and only[0]["encoding"] == "UCS-2"


def test_duplicate_client_ref_answers_the_original_id_and_is_not_recorded_twice(
    sim: RunningSimulator, http: requests.Session
) -> None:
    first = post_send(http, sim, send_body()).json()
    again = post_send(http, sim, send_body(text="a retry")).json()
    other = post_send(http, sim, send_body(client_ref="roko-out-2")).json()

    assert again == {"status": "sent", "gateway_sms_id": first["gateway_sms_id"], "duplicate": True}
    assert other["gateway_sms_id"] == first["gateway_sms_id"] + 1
    assert [m["client_ref"] for m in sim.sent()] == ["roko-out-1", "roko-out-2"]
    assert sim.sent()[0]["text"] == send_body()["text"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Token {TOKEN}"}],
    ids=["missing", "wrong-token", "no-scheme", "wrong-scheme"],
)
def test_send_requires_the_token_when_one_is_configured(
    sim: RunningSimulator, http: requests.Session, headers: dict[str, str]
) -> None:
    answer = post_send(http, sim, send_body(), headers=headers)

    assert answer.status_code == 401
    assert answer.json()["status"] == "unauthorized"
    assert sim.sent() == []


def test_send_needs_no_token_when_none_is_configured(http: requests.Session) -> None:
    with start_in_thread() as open_sim:
        assert post_send(http, open_sim, send_body(), headers={}).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 32}, "port"),
        ({"port": -1}, "port"),
        ({"port": "17"}, "port"),
        ({"port": True}, "port"),
        ({"to": "712345678"}, "to"),
        ({"to": "61234567"}, "to"),
        ({"to": "224612345678"}, "to"),
        ({"to": "+224612345678"}, "to"),
        ({"to": 612345678}, "to"),
        ({"text": ""}, "text"),
        ({"text": None}, "text"),
        ({"text": "x" * 1601}, "text too long"),
        ({"encoding": "UTF-8"}, "encoding"),
        ({"encoding": None}, "encoding"),
        ({"client_ref": ""}, "client_ref"),
        ({"client_ref": 42}, "client_ref"),
        ({"client_ref": "r" * 65}, "client_ref"),
    ],
)
def test_invalid_sends_are_rejected_with_422(
    sim: RunningSimulator, http: requests.Session, overrides: dict[str, Any], field: str
) -> None:
    answer = post_send(http, sim, send_body(**overrides))

    assert answer.status_code == 422
    assert answer.json()["status"] == "rejected"
    assert answer.json()["reason"].startswith(field)
    assert sim.sent() == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b""])
def test_a_body_that_is_not_a_json_object_is_rejected_with_400(
    sim: RunningSimulator, http: requests.Session, raw: bytes
) -> None:
    answer = http.post(sim.url + SEND_PATH, data=raw, headers=AUTH, timeout=5)

    assert answer.status_code == 400
    assert answer.json()["status"] == "rejected"


def test_mode_reject_and_down(sim: RunningSimulator, http: requests.Session) -> None:
    sim.set(mode="reject")
    rejected = post_send(http, sim, send_body())
    sim.set(mode="down")
    down = post_send(http, sim, send_body())
    sim.set(mode="ok")
    ok = post_send(http, sim, send_body())

    assert (rejected.status_code, rejected.json()) == (422, {"status": "rejected", "reason": "simulated rejection"})
    assert down.status_code == 503
    assert ok.status_code == 200
    assert len(sim.sent()) == 1


def test_fail_rate_one_answers_503_before_anything_else(http: requests.Session) -> None:
    with start_in_thread(token=TOKEN, fail_rate=1.0) as failing:
        answer = post_send(http, failing, {"not": "even valid"}, headers={})

        assert answer.status_code == 503
        assert answer.json()["reason"] == "simulated failure"
        assert failing.sent() == []


def test_latency_delays_sends_only(sim: RunningSimulator, http: requests.Session) -> None:
    sim.set(latency_ms=300)

    started = time.monotonic()
    answer = post_send(http, sim, send_body())
    send_seconds = time.monotonic() - started
    started = time.monotonic()
    http.get(sim.url + "/health", timeout=5)
    health_seconds = time.monotonic() - started

    assert answer.status_code == 200
    assert send_seconds >= 0.3
    assert health_seconds < 0.3


START_SETTINGS = {"fail_rate": 0.0, "latency_ms": 0, "mode": "ok", "status_mode": "ok", "dlr_delay_ms": 1000,
                  "dlr_fail_rate": 0.0, "dlr_expire_rate": 0.0, "dlr_twice": False, "dlr_shuffle": False}


def test_control_endpoint_reads_and_changes_settings(sim: RunningSimulator, http: requests.Session) -> None:
    control = sim.url + "/control"
    assert http.get(control, timeout=5).json() == START_SETTINGS

    changed = http.post(control, json={"mode": "down", "latency_ms": 5, "fail_rate": 0}, timeout=5)

    assert changed.status_code == 200
    assert changed.json() == {**START_SETTINGS, "latency_ms": 5, "mode": "down"}
    assert http.get(control, timeout=5).json() == changed.json()
    assert post_send(http, sim, send_body()).status_code == 503
    sim.reset()
    assert sim.simulator.settings() == START_SETTINGS


@pytest.mark.parametrize(
    "body",
    [{"fail_rate": 1.5}, {"fail_rate": "0.5"}, {"latency_ms": -1}, {"latency_ms": 1.5}, {"mode": "sleepy"}, {"x": 1},
     {"status_mode": "reject"}, {"dlr_delay_ms": -1}, {"dlr_fail_rate": 2}, {"dlr_twice": "yes"},
     {"dlr_fail_rate": 0.7, "dlr_expire_rate": 0.4}],
)
def test_control_rejects_bad_settings_without_changing_anything(
    sim: RunningSimulator, http: requests.Session, body: dict[str, Any]
) -> None:
    answer = http.post(sim.url + "/control", json={"mode": "down", **body}, timeout=5)

    assert answer.status_code == 400
    assert sim.simulator.settings()["mode"] == "ok"


def test_delete_sent_clears_records_but_ids_keep_increasing(sim: RunningSimulator, http: requests.Session) -> None:
    post_send(http, sim, send_body())
    post_send(http, sim, send_body(client_ref="roko-out-2"))

    cleared = http.delete(sim.url + "/sent", timeout=5)
    again = post_send(http, sim, send_body()).json()

    assert cleared.json() == {"cleared": 2}
    assert again == {"status": "sent", "gateway_sms_id": 3, "duplicate": False}
    assert [m["gateway_sms_id"] for m in sim.sent()] == [3]


def test_unknown_paths_and_methods(sim: RunningSimulator, http: requests.Session) -> None:
    assert http.get(sim.url + "/nope", timeout=5).status_code == 404
    wrong_method = http.get(sim.url + SEND_PATH, timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    assert http.get(sim.url + "/health", timeout=5).json() == {"status": "ok"}


# -- inject (playing a farmer) ----------------------------------------------------------


class WebhookReceiver:
    """A throwaway inbound webhook: records requests, answers like ROKO would."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": headers, "json": json.loads(body)})
                    sms_id = len(receiver.requests)
                if headers.get("x-roko-webhook-token") == HOOK_TOKEN:
                    status, answer = 200, {"status": "accepted", "sms_id": sms_id}
                else:
                    status, answer = 401, {"error": "unauthorized", "message": "bad token", "code": 401}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}" + INBOUND_PATH
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


def test_inject_posts_the_inbound_contract_to_the_webhook(webhook: WebhookReceiver, http: requests.Session) -> None:
    with start_in_thread(webhook_url=webhook.url, webhook_token=HOOK_TOKEN, seed=7) as sim:
        first = http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO U12345678"}, timeout=5)
        second = http.post(sim.url + "/inject", json={"sender": "622000111", "text": "ROKO", "port": 3}, timeout=5)
        replay = http.post(
            sim.url + "/inject", json={"sender": "612345678", "text": "ROKO U12345678", "gateway_sms_id": 1}, timeout=5
        )
        third = http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO"}, timeout=5)

    assert (first.status_code, first.json()) == (200, {"status": "accepted", "sms_id": 1})
    assert first.headers["X-Simulator-Gateway-Sms-Id"] == "1"
    request = webhook.requests[0]
    assert request["path"] == INBOUND_PATH
    assert request["headers"]["x-roko-webhook-token"] == HOOK_TOKEN
    assert request["headers"]["content-type"] == "application/json"
    body = dict(request["json"])
    timestamp = body.pop("timestamp")
    assert body == {"gateway_sms_id": 1, "port": 17, "sender": "612345678", "text": "ROKO U12345678", "source": "topaz"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", timestamp)
    assert abs((datetime.now(UTC) - datetime.fromisoformat(timestamp)).total_seconds()) < 10
    assert [r["json"]["gateway_sms_id"] for r in webhook.requests] == [1, 2, 1, 3]
    assert webhook.requests[1]["json"]["port"] == 3
    assert [a.status_code for a in (second, replay, third)] == [200, 200, 200]


def test_inject_ids_start_from_the_clock_without_seed(webhook: WebhookReceiver, http: requests.Session) -> None:
    before_ms = int(time.time() * 1000)
    with start_in_thread(webhook_url=webhook.url, webhook_token=HOOK_TOKEN) as sim:
        after_ms = int(time.time() * 1000)
        for _ in range(2):
            http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO"}, timeout=5)

    ids = [r["json"]["gateway_sms_id"] for r in webhook.requests]
    assert before_ms <= ids[0] <= after_ms
    assert ids[1] == ids[0] + 1


def test_inject_relays_the_webhook_status_and_body(webhook: WebhookReceiver, http: requests.Session) -> None:
    with start_in_thread(webhook_url=webhook.url, webhook_token="wrong") as sim:
        answer = http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO"}, timeout=5)

    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"


def test_inject_answers_502_when_the_webhook_is_unreachable(http: requests.Session) -> None:
    with start_in_thread(webhook_url=f"http://127.0.0.1:{free_port()}{INBOUND_PATH}", seed=1) as sim:
        answer = http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO"}, timeout=5)

    assert answer.status_code == 502
    assert answer.json()["status"] == "error"
    assert answer.json()["reason"].startswith("webhook unreachable")
    assert "refused" in answer.json()["reason"].lower()


@pytest.mark.parametrize(
    "body",
    [{"text": "ROKO"}, {"sender": 612345678, "text": "ROKO"}, {"sender": "612345678", "text": "x", "port": "17"}],
)
def test_inject_checks_types(http: requests.Session, webhook: WebhookReceiver, body: dict[str, Any]) -> None:
    with start_in_thread(webhook_url=webhook.url) as sim:
        assert http.post(sim.url + "/inject", json=body, timeout=5).status_code == 400
    assert webhook.requests == []


def test_inject_without_a_webhook_url_is_a_conflict(sim: RunningSimulator, http: requests.Session) -> None:
    answer = http.post(sim.url + "/inject", json={"sender": "612345678", "text": "ROKO"}, timeout=5)

    assert answer.status_code == 409


# -- delivery reports (docs/topaz-gateway.md §4) and the status query (§5) ------------------


def dlr_simulator(webhook: WebhookReceiver, **settings: Any) -> RunningSimulator:
    return start_in_thread(dlr_url=webhook.url, webhook_token=HOOK_TOKEN, **settings)


def reported(webhook: WebhookReceiver, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The reports the webhook got, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        with webhook.lock:
            reports = [report for request in webhook.requests for report in request["json"]["reports"]]
        if len(reports) >= count or time.monotonic() > deadline:
            return reports
        time.sleep(0.02)


def send_many(http: requests.Session, sim: RunningSimulator, count: int) -> list[str]:
    refs = [f"roko-out-{i}" for i in range(1, count + 1)]
    for ref in refs:
        assert post_send(http, sim, send_body(client_ref=ref)).status_code == 200
    return refs


def test_delivery_reports_follow_the_contract_after_the_delay(webhook: WebhookReceiver, http: requests.Session) -> None:
    schema = resolve_refs(openapi_spec()["components"]["schemas"]["DeliveryReportsBody"])
    with dlr_simulator(webhook, dlr_delay_ms=300, seed=3) as sim:
        refs = send_many(http, sim, 3)
        assert post_send(http, sim, send_body(client_ref="roko-out-1")).json()["duplicate"] is True
        status_url = sim.url + "/api/v1/send/roko-out-2"
        assert http.get(status_url, timeout=5).json()["status"] == "sent"
        assert webhook.requests == [], "not before the delay"
        reports = reported(webhook, 3)
        time.sleep(0.2)
        assert sorted(r["client_ref"] for r in reported(webhook, 4, timeout=0)) == refs, "one report per SMS"
        assert http.get(status_url, timeout=5).json()["status"] == "delivered"
        assert sim.reports()[0]["status"] == 200
    for request in webhook.requests:
        assert request["headers"]["x-roko-webhook-token"] == HOOK_TOKEN
        jsonschema.validate(request["json"], schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert {r["status"] for r in reports} == {"delivered"}
    assert [r["gateway_sms_id"] for r in sorted(reports, key=lambda r: r["client_ref"])] == [1, 2, 3]


def test_a_share_of_the_reports_fail_or_expire(webhook: WebhookReceiver, http: requests.Session) -> None:
    with dlr_simulator(webhook, dlr_delay_ms=0, dlr_fail_rate=0.5, dlr_expire_rate=0.25, seed=5) as sim:
        send_many(http, sim, 100)
        reports = reported(webhook, 100)
    statuses = [r["status"] for r in reports]
    assert len(statuses) == 100
    assert 25 <= statuses.count("failed") <= 75 and 5 <= statuses.count("expired") <= 45
    assert statuses.count("delivered") >= 5
    assert all(r["reason"] == "simulated: absent subscriber" for r in reports if r["status"] == "failed")
    assert all("reason" not in r for r in reports if r["status"] != "failed")


def test_reports_can_come_twice_and_out_of_order(webhook: WebhookReceiver, http: requests.Session) -> None:
    with dlr_simulator(webhook, dlr_delay_ms=0, dlr_twice=True) as sim:
        refs = send_many(http, sim, 5)
        twice = reported(webhook, 10)
    assert sorted(r["client_ref"] for r in twice) == sorted(refs * 2)
    webhook.requests.clear()
    with dlr_simulator(webhook, dlr_delay_ms=300, dlr_shuffle=True, seed=11) as sim:
        refs = send_many(http, sim, 20)
        shuffled = [r["client_ref"] for r in reported(webhook, 20)]
    assert sorted(shuffled) == sorted(refs) and shuffled != refs


def test_the_status_query_is_authenticated_and_can_be_down(http: requests.Session) -> None:
    with start_in_thread(token="t0k") as sim:
        post_send(http, sim, send_body(), headers={"Authorization": "Bearer t0k"})
        url = sim.url + "/api/v1/send/roko-out-1"
        assert http.get(url, timeout=5).status_code == 401
        answer = http.get(url, headers={"Authorization": "Bearer t0k"}, timeout=5)
        assert answer.status_code == 200
        assert set(answer.json()) == {"client_ref", "gateway_sms_id", "status", "at"}
        assert http.get(sim.url + "/api/v1/send/roko-out-9", headers={"Authorization": "Bearer t0k"},
                        timeout=5).status_code == 404
        sim.set(status_mode="down")
        assert http.get(url, headers={"Authorization": "Bearer t0k"}, timeout=5).status_code == 503
        assert post_send(http, sim, send_body(client_ref="roko-out-2"),
                         headers={"Authorization": "Bearer t0k"}).status_code == 200, "sends are not affected"
