"""The machine-facing blueprints (gateway webhooks, send API) never read or sign a session
cookie; the security headers are set once each, and a view's own header wins."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Response

from tests.helpers import body_with, post

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                    "Permissions-Policy")


@pytest.mark.parametrize("path", ["/api/v1/webhooks/topaz/inbound", "/api/v1/webhooks/topaz/status",
                                  "/api/v1/sms/send", "/api/v1/sms/7"])
def test_the_gateway_and_api_paths_get_a_null_session(app: Any, path: str) -> None:
    with app.test_request_context(path, method="POST", headers={"Cookie": "session=anything"}):
        from flask import session

        assert app.session_interface.is_null_session(session._get_current_object())


@pytest.mark.parametrize("path", ["/console", "/login", "/draws/1", "/api/v1x/webhooks", "/api/v1"])
def test_every_other_path_keeps_the_cookie_session(app: Any, path: str) -> None:
    with app.test_request_context(path):
        from flask import session

        assert not app.session_interface.is_null_session(session._get_current_object())


def test_an_inbound_sms_is_stored_with_a_stray_session_cookie(app: Any, client: Any) -> None:
    client.set_cookie("session", "not-a-signed-cookie")
    response = post(client, body_with())
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


def test_security_headers_are_set_once_each_and_a_views_own_header_wins(make_app: Any) -> None:
    app = make_app()

    @app.get("/_test/own-frame-policy")
    def own_frame_policy() -> Response:
        response = Response("ok")
        response.headers["x-frame-options"] = "SAMEORIGIN"
        return response

    client = app.test_client()
    response = client.get("/_test/own-frame-policy")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    for name in SECURITY_HEADERS:
        assert len(response.headers.getlist(name)) == 1, name
    plain = client.get("/healthz")
    assert plain.headers.getlist("X-Frame-Options") == ["DENY"]
    for name in SECURITY_HEADERS:
        assert len(plain.headers.getlist(name)) == 1, name


def test_an_inbound_sms_is_stored_without_an_orm_session(app: Any, client: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The first delivery is one Core statement on the engine: no ORM session is opened."""
    from sqlalchemy.orm import Session

    opened: list[Session] = []
    original = Session.__init__

    def counted(self: Session, *args: Any, **kwargs: Any) -> None:
        opened.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Session, "__init__", counted)
    response = post(client, body_with(gateway_sms_id=4242))
    assert response.status_code == 200
    assert opened == []
    assert post(client, body_with(gateway_sms_id=4242)).status_code == 200  # a replay reads through the ORM
    assert len(opened) == 1
