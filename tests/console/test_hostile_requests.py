"""Hostile URLs, queries and forms on the HTML pages (console, log-in, public draw pages)
get a 4xx, never a 500. Run on the suite's backend: PostgreSQL refuses NUL in text and
integers beyond 64 bits, which is where these used to fail."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import LoginFailure
from roko_app.services import accounts
from roko_app.services.errors import InvalidInput
from tests.helpers import csrf_from, post_login

TOO_BIG = str(2**63)  # one past the largest id a database row can have
LARGEST = str(2**63 - 1)


@pytest.mark.parametrize("path", [
    f"/console/messages/out/{TOO_BIG}", "/console/messages/out/99999999999999999999999",
    f"/console/campaigns/{TOO_BIG}", f"/console/campaigns/{TOO_BIG}/cancel",
    f"/console/admin/users/{TOO_BIG}/deactivate", f"/console/admin/users/{TOO_BIG}/reset-password",
])
def test_ids_beyond_64_bits_in_a_path_are_404(login: Any, path: str) -> None:
    client = login("admin")
    assert client.get(path).status_code == 404
    # the largest id a row can have is an unknown id like any other
    assert client.get(path.replace(TOO_BIG, LARGEST).replace("99999999999999999999999", LARGEST)).status_code == 404


@pytest.mark.parametrize("path", [f"/console/messages/{TOO_BIG}/requeue", f"/console/inbox/{TOO_BIG}/retry",
                                  f"/console/optimove/{TOO_BIG}/retry", f"/console/admin/users/{TOO_BIG}/unlock"])
def test_ids_beyond_64_bits_in_a_form_target_are_404(login: Any, path: str) -> None:
    client = login("admin")
    token = csrf_from(client.get("/console/compose").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize("query", [f"/console/messages/replays?sms={TOO_BIG}", f"/console/campaigns/1?after={TOO_BIG}",
                                   "/console/messages/replays?sms=-1"])
def test_ids_beyond_64_bits_in_a_query_are_ignored(login: Any, query: str) -> None:
    assert login("admin").get(query).status_code in (200, 404)


@pytest.mark.parametrize("path", ["/draws/%00", "/draws/%00/entries.csv", "/draws/abc%00def/bundle.zip",
                                  "/console/draws/%00", "/console/farmers/%00", "/console/entries?code=%00",
                                  "/console/admin/audit?actor=%00", "/console/admin/audit?action=a%00b"])
def test_a_nul_character_in_a_url_is_400(login: Any, path: str) -> None:
    response = login("admin").get(path)
    assert response.status_code == 400
    assert "text/html" in response.content_type


def test_a_nul_character_in_a_form_is_400_and_nothing_is_recorded(console_app: Any) -> None:
    client = console_app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "a\x00@b.c", "password": "x", "csrf_token": token})
    assert response.status_code == 400
    with console_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31"])
def test_a_day_beyond_the_calendar_is_an_ignored_filter(login: Any, day: str) -> None:
    client = login("admin")
    for page in (f"/console/entries?to={day}", f"/console/entries?from={day}",
                 f"/console/admin/audit?from={day}&to={day}"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert "ignoré" in response.get_data(as_text=True), page  # the page says the filter was left out
    # the first and last days allowed are filters like any other
    html = client.get("/console/entries?from=1900-01-01&to=9998-12-31").get_data(as_text=True)
    assert "ignoré" not in html


def test_an_email_that_lengthens_when_lower_cased_is_a_failed_log_in(console_app: Any) -> None:
    typed = "İ" * 250 + "@b.c"  # 254 characters as typed, 504 once lower-cased
    response = post_login(console_app.test_client(), typed, "wrong password")
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect." in response.get_data(as_text=True)
    with console_app.app_context():
        (recorded,) = db.session.scalars(select(LoginFailure.email))
        assert len(recorded) == accounts.EMAIL_MAX_LENGTH
        with pytest.raises(InvalidInput):
            accounts.create_user(typed, "viewer")
