"""``ROKO_LOG_FORMAT=json`` (issue 15, item 2): one JSON object per line, from the web app
and from the worker processes, carrying the request id, the route template, the status,
the duration and message ids; text stays the default. Privacy: tests/web/test_log_privacy.py."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from roko_app import ConfigError, create_app
from tests.helpers import SIM_TOKEN, WEBHOOK_TOKEN, base_config, formatted_log, outbox, text_in, worker_config, worker_process

NUMBER = "612345678"


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line of ``output`` as a JSON object (fails on any line that is not one)."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(item, dict) for item in parsed), output
    return parsed


def access_lines(output: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(output) if line["logger"] == "roko_app.access"]


@pytest.fixture
def json_app(make_app: Any) -> Any:
    return make_app(LOG_FORMAT="json")


def test_each_access_line_is_one_json_object_with_the_request_fields(json_app: Any) -> None:
    with formatted_log() as log:
        response = json_app.test_client().get("/healthz", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 200
    (line,) = access_lines(log.getvalue())
    assert line["level"] == "INFO"
    assert line["request_id"] == "req-42"
    assert line["method"] == "GET" and line["route"] == "/healthz" and line["status"] == 200
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0
    assert line["message"].startswith("GET /healthz 200 ")


@pytest.mark.parametrize(("method", "path", "route", "value"), [
    ("GET", f"/console/farmers/{NUMBER}", "/console/farmers/<msisdn>", NUMBER),
    ("POST", f"/console/farmers/{NUMBER}/unblock", "/console/farmers/<msisdn>/unblock", NUMBER),
    ("GET", "/draws/4242", "/draws/<draw_id>", "4242"),
    ("GET", "/draws/4242/entries.csv", "/draws/<draw_id>/entries.csv", "4242"),
])
def test_the_route_is_the_template_never_the_path(json_app: Any, method: str, path: str, route: str,
                                                   value: str) -> None:
    with formatted_log() as log:
        json_app.test_client().open(path, method=method)
    (line,) = access_lines(log.getvalue())
    assert line["route"] == route and line["method"] == method
    assert value not in log.getvalue(), "the value in the path is not logged"


def test_a_request_answered_by_another_hook_is_logged_too(json_app: Any) -> None:
    with formatted_log() as log:
        response = json_app.test_client().post(f"/console/farmers/{NUMBER}/unblock")  # no CSRF token
    assert response.status_code == 400
    (line,) = access_lines(log.getvalue())
    assert line["status"] == 400 and line["request_id"] == response.headers["X-Request-ID"]


def test_a_path_that_matches_no_route_is_logged_masked(json_app: Any) -> None:
    with formatted_log() as log:
        json_app.test_client().get(f"/no/such/page/{NUMBER}")
    (line,) = access_lines(log.getvalue())
    assert line["status"] == 404 and line["route"] == "/no/such/page/<number>"


def test_inbound_sms_lines_carry_the_sms_id_and_the_request_id(json_app: Any) -> None:
    with formatted_log() as log:
        sms_id = text_in(json_app, "ROKO U12345678", sender=NUMBER, classify=False)
    lines = json_lines(log.getvalue())
    (stored,) = [line for line in lines if line["message"].startswith("inbound sms")]
    assert stored["sms_id"] == sms_id and stored["logger"] == "roko_app.services.inbound"
    (access,) = [line for line in lines if line["logger"] == "roko_app.access"]
    assert stored["request_id"] == access["request_id"] != "-"
    assert access["route"] == "/api/v1/webhooks/topaz/inbound" and access["status"] == 200


def test_text_is_the_default_format(app: Any) -> None:
    with formatted_log() as log:
        app.test_client().get("/healthz", headers={"X-Request-ID": "req-7"})
    (line,) = log.getvalue().splitlines()
    assert " INFO roko_app.access [req-7] GET /healthz 200 " in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_an_unknown_log_format_is_refused(database_url: str) -> None:
    with pytest.raises(ConfigError, match="ROKO_LOG_FORMAT"):
        create_app(base_config(database_url, LOG_FORMAT="xml"))


def test_the_worker_process_logs_json_lines_with_message_ids(make_app: Any, simulator: Any, tmp_path: Path) -> None:
    app = make_app(**worker_config(simulator))
    sms_id = text_in(app, "ROKO U12345678", sender=NUMBER, classify=False)
    log_path = tmp_path / "worker.log"
    proc = worker_process(app, simulator, "--once", log_path=log_path, ROKO_LOG_FORMAT="json")
    proc.communicate(timeout=60)
    assert proc.returncode == 0, log_path.read_text()
    output = log_path.read_text()
    lines = json_lines(output)
    assert {"roko_app.cli.worker"} <= {line["logger"] for line in lines}
    (sent,) = [line for line in lines if " SENT " in line["message"]]
    assert isinstance(sent["outbound_id"], int) and sent["request_id"] == "-"
    (message,) = simulator.sent()
    assert message["client_ref"] == f"roko-out-{sent['outbound_id']}"
    assert NUMBER not in output and "U12345678" not in output and message["text"] not in output
    (row,) = outbox(app)
    assert row.id == sent["outbound_id"] and row.reply_to_sms_id == sms_id
    assert SIM_TOKEN not in output and WEBHOOK_TOKEN not in output
