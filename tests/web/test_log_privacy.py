"""Logs hold no farmer's number and no message text, errors included (issue 12, item 7):
a 500 caused by the database logs where it happened, not the statement's parameters nor
the database's own account of the row; the access log shows route templates (a path that
matches no route with its numbers masked); the JSON format (ROKO_LOG_FORMAT=json) too."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models import InboundSms, OutboundSms, Participant
from tests.helpers import assert_error, formatted_log

NUMBER = "612345678"
TEXT = "Mon code secret est U87654321, merci"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def duplicate_participant() -> None:
    """A unique violation: PostgreSQL's DETAIL names the key's value (the number)."""
    for _ in range(2):
        db.session.add(Participant(msisdn=NUMBER, first_seen_at=NOW, valid_entries=0))
        db.session.flush()


def duplicate_sms() -> None:
    """A unique violation on ids, with the number and the text among the parameters."""
    for _ in range(2):
        db.session.add(InboundSms(gateway_sms_id=7, port=17, sender=NUMBER, sender_msisdn=NUMBER, text=TEXT,
                                  gateway_timestamp=NOW, received_at=NOW, source="topaz"))
        db.session.flush()


def incomplete_message() -> None:
    """A NOT NULL violation: PostgreSQL's DETAIL quotes the whole failing row."""
    db.session.add(OutboundSms(to_msisdn=NUMBER, text=TEXT, encoding=None, units=len(TEXT), status="QUEUED",
                               priority=10, port=17, attempts=0, next_attempt_at=NOW, created_at=NOW, updated_at=NOW))
    db.session.flush()


def wrong_value() -> None:
    """Not a database error: the message of a ValueError quotes its input."""
    raise ValueError(f"cannot send {TEXT!r} to {NUMBER}")


FAULTS = [(duplicate_participant, "IntegrityError"), (duplicate_sms, "IntegrityError"),
          (incomplete_message, "IntegrityError"), (wrong_value, "ValueError")]


@pytest.mark.parametrize(("fault", "kind"), FAULTS, ids=[f.__name__ for f, _ in FAULTS])
def test_a_500_logs_where_it_happened_but_no_number_or_text(make_app: Any, caplog: Any, fault: Any,
                                                            kind: str) -> None:
    app = make_app()
    app.add_url_rule(f"/api/v1/test/{fault.__name__}/{NUMBER}", fault.__name__, lambda: fault())
    caplog.set_level(logging.DEBUG)
    response = app.test_client().get(f"/api/v1/test/{fault.__name__}/{NUMBER}")
    assert_error(response, 500, "INTERNAL_ERROR")
    logged = caplog.text
    assert NUMBER not in logged and "U87654321" not in logged and "merci" not in logged, logged
    (error,) = [r for r in caplog.records if r.getMessage().startswith("unhandled error")]
    assert error.exc_info, "the traceback is logged"
    assert fault.__name__ in logged and kind in logged, "the traceback shows what happened where"


def test_programming_errors_keep_their_message(make_app: Any, caplog: Any) -> None:
    app = make_app()
    app.add_url_rule("/api/v1/test/typo", "typo", lambda: None.nothing)  # type: ignore[attr-defined]
    caplog.set_level(logging.ERROR)
    assert_error(app.test_client().get("/api/v1/test/typo"), 500, "INTERNAL_ERROR")
    assert "'NoneType' object has no attribute 'nothing'" in caplog.text


def test_statement_parameters_are_hidden_everywhere(app: Any) -> None:
    with app.app_context():
        assert db.engine.hide_parameters


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("path", [f"/console/farmers/{NUMBER}", f"/console/farmers/+224{NUMBER}",
                                  f"/console/farmers/{NUMBER}/unblock", f"/no/such/page/{NUMBER}",
                                  "/console/farmers/612 345 678/x", "/console/farmer/+224-612-34-56-78",
                                  "/console/farmer/(612) 34.56.78"])
def test_the_access_log_shows_no_number_from_the_path(make_app: Any, path: str, log_format: str) -> None:
    app = make_app(LOG_FORMAT=log_format)
    with formatted_log() as log:
        app.test_client().get(path)
    (line,) = [line for line in log.getvalue().splitlines() if "roko_app.access" in line]
    route = re.search(r"GET (.*?) \d{3} [\d.]+ms", line)
    assert route is not None, line
    assert not any(ch.isdigit() for ch in route[1]) and ("<msisdn>" in line or "<number>" in line), line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_value_from_a_request_can_forge_a_log_line(make_app: Any, log_format: str) -> None:
    app = make_app(LOG_FORMAT=log_format)
    forged = "2026-01-01 00:00:00,000 WARNING roko_app.webhooks.routes [-] forged line"
    with formatted_log() as log:
        # as gunicorn passes it on (a test client's URL parsing would drop the line breaks)
        app.test_client().get("/", environ_overrides={
            "PATH_INFO": ("/api/v1/x\n" + forged + "\r\u2028\x00\x1b[31m").encode().decode("latin-1")})
    lines = log.getvalue().splitlines()
    (line,) = lines  # one access line: the path's line breaks are escapes in it
    assert "roko_app.access" in line and "forged line" in line
    assert "\x00" not in line and "\x1b" not in line and "\u2028" not in line
    if log_format == "text":
        assert "/api/v1/x\\x0a" in line and "forged line\\x0d\\u2028\\x00\\x1b[31m" in line


def test_a_traceback_keeps_its_lines(make_app: Any, caplog: Any) -> None:
    app = make_app(LOG_FORMAT="text")
    app.add_url_rule("/api/v1/test/boom", "boom", lambda: wrong_value())
    with formatted_log() as log:
        app.test_client().get("/api/v1/test/boom")
    assert "Traceback (most recent call last):\n" in log.getvalue()


@pytest.mark.parametrize(("fault", "kind"), FAULTS, ids=[f.__name__ for f, _ in FAULTS])
def test_a_500_in_json_logs_no_number_or_text(make_app: Any, fault: Any, kind: str) -> None:
    app = make_app(LOG_FORMAT="json")
    app.add_url_rule(f"/api/v1/test/{fault.__name__}/{NUMBER}", fault.__name__, lambda: fault())
    with formatted_log() as log:
        assert_error(app.test_client().get(f"/api/v1/test/{fault.__name__}/{NUMBER}"), 500, "INTERNAL_ERROR")
    records = [json.loads(line) for line in log.getvalue().splitlines()]
    (error,) = [r for r in records if r["message"].startswith("unhandled error")]
    assert kind in error["exc_info"] and fault.__name__ in error["exc_info"], "the traceback is in the line"
    logged = log.getvalue()
    assert NUMBER not in logged and "U87654321" not in logged and "merci" not in logged, logged
