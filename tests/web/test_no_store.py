"""Console and log-in pages are never stored by browsers or proxies (issue 12, item 5):
``Cache-Control: no-store`` and ``Pragma: no-cache`` on every one of them, whatever the
answer (page, redirect, error), while static files stay cacheable."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models import CampaignBatch, Participant, User
from roko_app.services import accounts
from roko_app.services.replies import DEFAULT_REPLIES

EMAIL, PASSWORD = "admin@roko.test", "correct horse battery"
PRIVATE = ("console.", "auth.", "i18n.")


@pytest.fixture
def admin(app: Any) -> Any:
    """A test client logged in as an admin, with one row behind each page that shows one."""
    with app.app_context():
        accounts.create_user(EMAIL, "admin", PASSWORD)
        now = datetime.now(UTC)
        db.session.add(Participant(msisdn="612345678", first_seen_at=now, valid_entries=0))
        db.session.add(CampaignBatch(batch_key="batch:b1", batch_id="b1", scheduled_at=now, meta={}, body_hash="0" * 64,
                                     accepted=0, rejected=0, received_at=now))
        db.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf(client, "/login")})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def csrf(client: Any, path: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def url_values(app: Any) -> dict[str, Any]:
    """A value for each URL argument of the console's routes (a row that exists)."""
    with app.app_context():
        return {"batch_id": db.session.query(CampaignBatch.id).scalar(), "msisdn": "612345678",
                "key": str(next(iter(DEFAULT_REPLIES))), "user_id": db.session.query(User.id).scalar(),
                "code": "en", "name": "none", "sms_id": 1, "message_id": 1, "draw_id": "20260101-ABCDEF"}


def private_get_urls(app: Any) -> list[str]:
    values = url_values(app)
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(PRIVATE) and "GET" in rule.methods:
            missing = set(rule.arguments) - set(values)
            assert not missing, f"{rule.rule}: give url_values a value for {missing}"
            urls.append(rule.build({name: values[name] for name in rule.arguments})[1])
    return urls


def assert_not_stored(response: Any, what: str) -> None:
    response.get_data()  # a streamed page (the CSV) runs to its end
    response.close()
    assert response.status_code < 500, (what, response.status_code)
    assert response.headers.get("Cache-Control") == "no-store", (what, response.headers.get("Cache-Control"))
    assert response.headers.get("Pragma") == "no-cache", what


def test_every_console_and_auth_page_is_no_store(app: Any, admin: Any) -> None:
    urls = private_get_urls(app)
    assert {"/console/", "/console/entries", "/console/entries.csv", "/login", "/"} <= set(urls)
    for url in urls:
        response = admin.get(url)
        assert_not_stored(response, url)
        if response.status_code == 200 and not url.endswith(".csv") and not url.startswith("/lang/"):
            assert response.mimetype == "text/html", url


def test_pages_seen_logged_out_are_no_store(app: Any, admin: Any) -> None:
    anonymous = app.test_client()
    for url in private_get_urls(app):
        assert_not_stored(anonymous.get(url), f"anonymous {url}")


@pytest.mark.parametrize("path", ["/console/no-such-page", "/console/campaigns/999999", "/console/farmers/699999999"])
def test_console_errors_are_no_store(admin: Any, path: str) -> None:
    response = admin.get(path)
    assert response.status_code == 404
    assert_not_stored(response, path)


def test_answers_to_console_forms_are_no_store(app: Any, admin: Any) -> None:
    stranger = app.test_client()
    wrong = stranger.post("/login", data={"email": EMAIL, "password": "wrong", "csrf_token": csrf(stranger, "/login")})
    assert_not_stored(wrong, "a failed log-in")
    assert EMAIL in wrong.get_data(as_text=True), "the page shows what was typed: it must not be kept"
    assert_not_stored(admin.post("/console/compose", data={"csrf_token": csrf(admin, "/console/compose")}),
                      "a compose form with errors")
    assert_not_stored(admin.post("/logout", data={"csrf_token": csrf(admin, "/console/")}), "log-out")


@pytest.mark.parametrize("path", ["/static/css/console.css", "/healthz"])
def test_other_answers_keep_their_caching(client: Any, path: str) -> None:
    response = client.get(path)
    response.close()
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
