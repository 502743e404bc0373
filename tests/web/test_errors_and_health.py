"""Health probes, the JSON error shape on every API path, and database outages."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from roko_app import create_app
from tests.helpers import SEED_EXAMPLE, URL, assert_error, base_config, count, post

# Databases that refuse connections: nothing listens on port 1, and SQLite cannot create
# a file in a folder that does not exist.
DOWN_DATABASES = [
    "postgresql+psycopg://postgres@127.0.0.1:1/roko",
    "sqlite:////nonexistent-roko-folder/sub/roko.db",
]


def test_healthz(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_when_database_answers(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready"}


@pytest.mark.parametrize("url", DOWN_DATABASES, ids=["postgresql", "sqlite"])
def test_readyz_is_503_when_database_is_down(url: str) -> None:
    app = create_app(base_config(url))
    response = app.test_client().get("/readyz")
    assert_error(response, 503, "DATABASE_UNAVAILABLE")
    # The process itself is still healthy.
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize("url", DOWN_DATABASES, ids=["postgresql", "sqlite"])
def test_inbound_is_503_not_500_when_database_is_down(url: str, caplog: Any) -> None:
    app = create_app(base_config(url))
    response = post(app.test_client(), SEED_EXAMPLE)
    body = assert_error(response, 503, "DATABASE_UNAVAILABLE")
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["Retry-After"]
    assert set(body) == {"error", "message", "code"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/nope", 404, "NOT_FOUND"),
        ("POST", "/api/v1/webhooks/topaz/nope", 404, "NOT_FOUND"),
        ("GET", "/api/", 404, "NOT_FOUND"),
        ("GET", URL, 405, "METHOD_NOT_ALLOWED"),
        ("PUT", URL, 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", URL, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/healthz", 405, "METHOD_NOT_ALLOWED"),
        ("OPTIONS", URL, 405, "METHOD_NOT_ALLOWED"),  # no empty text/html 200 from Flask
        ("OPTIONS", "/api/v1/sms/send", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_unknown_api_paths_and_methods_answer_json(client: Any, method: str, path: str, status: int,
                                                   code: str) -> None:
    response = client.open(path, method=method)
    assert_error(response, status, code)
    if status == 405:
        assert "POST" in response.headers["Allow"] or "GET" in response.headers["Allow"]


def test_unknown_html_path_answers_html(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_unexpected_exception_is_500_json_rolled_back_and_logged(make_app: Any, caplog: Any) -> None:
    from roko_app.extensions import db
    from roko_app.models import InboundSms

    app = make_app()

    def boom() -> None:
        db.session.add(InboundSms(gateway_sms_id=1, port=1, sender="612345678", text="x",
                                  gateway_timestamp=__import__("datetime").datetime.now(__import__("datetime").UTC),
                                  source="t"))
        db.session.flush()
        raise RuntimeError("secret internals")

    app.add_url_rule("/api/v1/boom", "boom", boom)
    caplog.set_level(logging.ERROR, logger="roko_app")
    response = app.test_client().get("/api/v1/boom")
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any(r.exc_info for r in caplog.records), "the traceback is logged"
    assert body["message"]
    assert count(app) == 0, "the flushed row was rolled back"


def test_every_response_carries_a_request_id(client: Any) -> None:
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id!"}).headers["X-Request-ID"] != "bad id!"
