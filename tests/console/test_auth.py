"""Log in and out, throttling, sessions, CSRF, redirects and security headers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, User
from roko_app.services import accounts
from tests.factories import PASSWORD
from tests.helpers import csrf_from, post_login


def test_anonymous_is_redirected_to_login(console_app: Any) -> None:
    response = console_app.test_client().get("/console/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_page_is_french_by_default_and_english_on_request(console_app: Any) -> None:
    client = console_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "Se connecter" in page and 'lang="fr"' in page
    client.get("/lang/en?next=/login")
    assert "Log in" in client.get("/login").get_data(as_text=True)


def test_successful_login_rotates_the_session_and_is_audited(console_app: Any) -> None:
    client = console_app.test_client()
    client.get("/login")
    before = client.get_cookie("session")
    response = post_login(client, "Operator@Roko.test ", PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    after = client.get_cookie("session")
    assert after is not None and (before is None or before.value != after.value)
    with console_app.app_context():
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login"))
        assert event.actor == "operator@roko.test"
    assert client.get("/console/").status_code == 200


@pytest.mark.parametrize("email", ["operator@roko.test", "nobody@roko.test"])
def test_wrong_password_gives_the_same_answer_for_known_and_unknown_accounts(console_app: Any, email: str) -> None:
    response = post_login(console_app.test_client(), email, "wrong password!")
    assert response.status_code == 200
    assert "Adresse e-mail ou mot de passe incorrect" in response.get_data(as_text=True)


def test_logout_requires_post_with_csrf(login: Any) -> None:
    client = login("viewer")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize(("email", "password", "missing"), [("", "", 2), ("admin@roko.test", "", 1), ("", "x", 1)])
def test_an_empty_field_is_named_next_to_it(console_app: Any, email: str, password: str, missing: int) -> None:
    response = post_login(console_app.test_client(), email, password)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count('<p class="field-error" role="alert">Ce champ est requis.</p>') == missing
    assert f'value="{email}"' in html if email else True  # what was typed stays


def test_login_form_without_csrf_is_refused(console_app: Any) -> None:
    response = console_app.test_client().post("/login", data={"email": "admin@roko.test", "password": PASSWORD})
    assert response.status_code == 400


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/", "/console/"),
    ("/console/?page=2", "/console/?page=2"),
    ("https://evil.example/x", "/console/"),
    ("//evil.example/x", "/console/"),
    ("/\\evil.example", "/console/"),
    ("javascript:alert(1)", "/console/"),
])
def test_next_only_goes_to_our_own_paths(console_app: Any, target: str, expected: str) -> None:
    response = post_login(console_app.test_client(), "viewer@roko.test", PASSWORD, next=target)
    assert response.headers["Location"] == expected


def test_security_headers_on_every_page(console_app: Any) -> None:
    for path in ("/login", "/console/", "/healthz", "/no-such-page"):
        headers = console_app.test_client().get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"]


def test_session_cookie_flags(console_app: Any, make_app: Any) -> None:
    client = console_app.test_client()
    post_login(client, "viewer@roko.test", PASSWORD)
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax"
    from roko_app import create_app

    prod = create_app({"ENV": "prod", "DATABASE_URL": "sqlite://", "SECRET_KEY": "s", "WEBHOOK_INBOUND_TOKEN": "t",
                       "TOPAZ_URL": "http://gw", "TOPAZ_TOKEN": "g", "CODE_KEY": "c",
                       "OPTIMOVE_API_KEY": "k", "OPTIMOVE_HMAC_SECRET": "h"})
    assert prod.config["SESSION_COOKIE_SECURE"] is True
    assert console_app.config["SESSION_COOKIE_SECURE"] is False


def copy_of_session(app: Any, client: Any) -> Any:
    """A second client holding a copy of ``client``'s session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    assert thief.get("/console/").status_code == 200
    return thief


def test_a_session_cookie_copied_before_logout_is_useless_after(console_app: Any, login: Any) -> None:
    client = login("viewer")
    thief = copy_of_session(console_app, client)
    other_device = login("viewer")  # logging out ends every session of the account
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert thief.get("/console/").status_code == 302
    assert other_device.get("/console/").status_code == 302
    assert login("viewer").get("/console/").status_code == 200  # logging in again works


def change_password(app: Any, email: str) -> None:
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one()
        accounts.set_password(user, "another long password")
        db.session.commit()


def admin_post(login: Any, app: Any, email: str, action: str, **data: str) -> None:
    admin = login("admin")
    with app.app_context():
        user_id = db.session.scalars(select(User.id).where(User.email == email)).one()
    token = csrf_from(admin.get("/console/admin/users").get_data(as_text=True))
    response = admin.post(f"/console/admin/users/{user_id}/{action}", data={"csrf_token": token, **data})
    assert response.status_code == 302


@pytest.mark.parametrize("event", ["password", "role", "deactivate"])
def test_a_session_cookie_copied_before_an_account_change_is_useless_after(console_app: Any, login: Any,
                                                                           event: str) -> None:
    client = login("operator")
    thief = copy_of_session(console_app, client)
    if event == "password":
        change_password(console_app, "operator@roko.test")
    elif event == "role":
        admin_post(login, console_app, "operator@roko.test", "role", role="viewer")
    else:
        admin_post(login, console_app, "operator@roko.test", "active", active="0")
    assert client.get("/console/").status_code == 302
    assert thief.get("/console/").status_code == 302


def test_reactivating_an_account_does_not_revive_its_old_sessions(console_app: Any, login: Any) -> None:
    thief = copy_of_session(console_app, login("operator"))
    admin_post(login, console_app, "operator@roko.test", "active", active="0")
    admin_post(login, console_app, "operator@roko.test", "active", active="1")
    assert thief.get("/console/").status_code == 302
    assert login("operator").get("/console/").status_code == 200


def test_the_session_cookie_is_the_only_one_and_ends_with_the_browser(console_app: Any, login: Any) -> None:
    client = login("viewer")
    cookie = client.get_cookie("session")
    assert cookie.expires is None  # not a persistent cookie
    assert client.get_cookie(console_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")) is None


def test_user_create_cli_prints_a_password_once(console_app: Any) -> None:
    result = console_app.test_cli_runner().invoke(args=["roko", "user", "create", "new@roko.test", "--role", "admin"])
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1]
    assert post_login(console_app.test_client(), "new@roko.test", password).status_code == 302
    again = console_app.test_cli_runner().invoke(args=["roko", "user", "create", "new@roko.test"])
    assert again.exit_code != 0 and "exists already" in again.output
