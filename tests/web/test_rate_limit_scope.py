"""Flask-Limiter works only on the views that declare a limit: the gateway's webhook and
every other request never reach it, the limited views still count and answer with their
``X-RateLimit-*`` headers."""

from __future__ import annotations

from typing import Any

import pytest
from flask_limiter import Limiter

from roko_app.extensions import limiter
from roko_app.web.rate_limits import limited_endpoints
from tests.factories import issue_key
from tests.helpers import SEND_SEED_EXAMPLE, SIM_TOKEN, body_with, post, send


@pytest.fixture
def limiter_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time the limiter works out whom a request is from (the first step of any check)."""
    calls: list[str] = []
    original = Limiter.identify_request

    def counted(self: Limiter) -> str:
        endpoint = original(self)
        calls.append(endpoint)
        return endpoint

    monkeypatch.setattr(Limiter, "identify_request", counted)
    return calls


def test_the_limited_views_are_the_ones_that_declare_a_limit(app: Any) -> None:
    assert limited_endpoints(app, limiter) == {
        "api.send_sms", "webhooks.optimove_campaigns",
        "public.draw", "public.check", "public.entries_csv", "public.bundle",
    }


def test_an_inbound_sms_never_reaches_the_limiter(app: Any, client: Any, limiter_calls: list[str]) -> None:
    response = post(client, body_with())
    assert response.status_code == 200
    assert limiter_calls == []
    assert not any(name.startswith("X-RateLimit") for name, _value in response.headers)


def test_unlimited_pages_never_reach_the_limiter(client: Any, limiter_calls: list[str]) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    assert limiter_calls == []


def test_a_limited_view_is_checked_and_says_its_budget(make_app: Any, simulator: Any,
                                                       limiter_calls: list[str]) -> None:
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, SEND_RATE_LIMIT="2/minute")
    key = issue_key(app)
    first = send(app, SEND_SEED_EXAMPLE, key)
    assert first.status_code == 200
    assert "api.send_sms" in limiter_calls
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert send(app, SEND_SEED_EXAMPLE, key).headers["X-RateLimit-Remaining"] == "0"
    refused = send(app, SEND_SEED_EXAMPLE, key)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
