"""Passwords (issue 13): a user changes its own (current + new twice; its other sessions
end, this one goes on); an admin resets one to a one-time password shown once, and the
console then asks for a new one before anything else."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, User
from tests.factories import PASSWORD
from tests.helpers import csrf_from, log_in, post_login

URL = "/console/account/password"
NEW = "a much longer new secret"


def change(client: Any, current: str = PASSWORD, new: str = NEW, again: str | None = None) -> Any:
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "current_password": current, "new_password": new,
                                  "new_password_again": new if again is None else again})


def user(app: Any, email: str) -> User:
    with app.app_context():
        found = db.session.scalars(select(User).where(User.email == email)).one()
        db.session.expunge(found)
        return found


def actions(app: Any) -> list[tuple[str, str | None]]:
    with app.app_context():
        return [(e.action, e.target) for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
                if e.action.startswith("user.password")]


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_every_role_changes_its_own_password(console_app: Any, login: Any, role: str) -> None:
    client = login(role)
    other = login(role)
    email = f"{role}@roko.test"
    assert f'href="{URL}"' in client.get("/console/").get_data(as_text=True), "reachable from the header"
    response = change(client)
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200, "this session goes on"
    assert other.get("/console/").status_code == 302, "the other sessions are logged out"
    assert post_login(console_app.test_client(), email, PASSWORD).status_code != 302, "the old password is refused"
    log_in(console_app.test_client(), email, NEW)
    assert actions(console_app) == [("user.password_change", email)]


@pytest.mark.parametrize(("current", "new", "again", "problem"), [
    ("wrong password!", NEW, None, "Le mot de passe actuel est faux."),
    (PASSWORD, NEW, NEW + "x", "Les deux nouveaux mots de passe diffèrent."),
    (PASSWORD, "short", None, "Un mot de passe doit compter au moins 10 caractères."),
    (PASSWORD, PASSWORD, None, "Le nouveau mot de passe doit être différent de l'actuel."),
])
def test_a_refused_change_says_why_and_changes_nothing(console_app: Any, login: Any, current: str, new: str,
                                                       again: str | None, problem: str) -> None:
    client = login("operator")
    response = change(client, current, new, again)
    assert response.status_code == 400
    assert problem in unescape(response.get_data(as_text=True))
    assert client.get("/console/").status_code == 200
    log_in(console_app.test_client(), "operator@roko.test", PASSWORD)
    assert actions(console_app) == []


def test_an_admin_resets_a_password_shown_once_and_the_change_is_forced(console_app: Any, login: Any) -> None:
    target = user(console_app, "operator@roko.test")
    victim_session = login("operator")
    admin = login("admin")
    page = unescape(admin.get("/console/admin/users").get_data(as_text=True))
    assert f'href="/console/admin/users/{target.id}/reset-password"' in page
    confirm = unescape(admin.get(f"/console/admin/users/{target.id}/reset-password").get_data(as_text=True))
    assert "Réinitialiser le mot de passe de operator@roko.test ?" in confirm
    response = admin.post(f"/console/admin/users/{target.id}/reset-password", data={"csrf_token": csrf_from(confirm)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    one_time = re.search(r'id="one-time-password">([^<]+)<', response.get_data(as_text=True))[1]
    assert len(one_time) >= 16
    assert actions(console_app) == [("user.password_reset", "operator@roko.test")]
    assert victim_session.get("/console/").status_code == 302, "their sessions ended"
    assert post_login(console_app.test_client(), "operator@roko.test", PASSWORD).status_code != 302

    client = log_in(console_app.test_client(), "operator@roko.test", one_time)
    for page_url in ("/console/", "/console/compose", "/console/entries"):
        response = client.get(page_url)
        assert (response.status_code, response.headers["Location"]) == (302, URL), page_url
    forced = unescape(client.get(URL).get_data(as_text=True))
    assert 'id="forced-change"' in forced
    assert change(client, one_time).status_code == 302
    assert user(console_app, "operator@roko.test").must_change_password is False
    assert client.get("/console/compose").status_code == 200, "free again"


def test_an_admin_cannot_reset_its_own_password(console_app: Any, login: Any) -> None:
    me = user(console_app, "admin@roko.test")
    admin = login("admin")
    assert f"/console/admin/users/{me.id}/reset-password" not in admin.get("/console/admin/users").get_data(as_text=True)
    token = csrf_from(admin.get("/console/admin/users").get_data(as_text=True))
    assert admin.post(f"/console/admin/users/{me.id}/reset-password", data={"csrf_token": token}).status_code == 400
    assert user(console_app, "admin@roko.test").must_change_password is False


def test_only_admins_reset(console_app: Any, login: Any) -> None:
    target = user(console_app, "viewer@roko.test")
    operator = login("operator")
    token = csrf_from(operator.get("/console/").get_data(as_text=True))
    assert operator.get(f"/console/admin/users/{target.id}/reset-password").status_code == 403
    assert operator.post(f"/console/admin/users/{target.id}/reset-password",
                         data={"csrf_token": token}).status_code == 403
    assert actions(console_app) == []
