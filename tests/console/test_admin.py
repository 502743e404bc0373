"""Admin pages: users and roles, API keys (shown once, revocable), the audit log; only
admins get in, every action is audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import ApiKey, AuditEvent, User
from roko_app.services import accounts
from tests.factories import T0, add_audit_event, make_user
from tests.helpers import SIM_TOKEN, csrf_from, english, log_in, pager_link, post_login

USERS = "/console/admin/users"
KEYS = "/console/admin/api-keys"
AUDIT = "/console/admin/audit"



def events(app: Any, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def user(app: Any, email: str) -> User:
    with app.app_context():
        row = db.session.scalars(select(User).where(User.email == email)).one()
        db.session.expunge_all()
        return row


def form_post(client: Any, url: str, page: str = USERS, **data: str) -> Any:
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


# --- who gets in --------------------------------------------------------------------------

ADMIN_GETS = [USERS, KEYS, AUDIT]


@pytest.mark.parametrize("url", ADMIN_GETS)
def test_anonymous_is_sent_to_login(console_app: Any, url: str) -> None:
    response = console_app.test_client().get(url)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_manage_users_and_keys(console_app: Any, login: Any, role: str) -> None:
    client = login(role)
    for url in ADMIN_GETS:
        assert client.get(url).status_code == 403, url
    target = user(console_app, "viewer@roko.test")
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    for url, data in [(USERS, {"email": "new@roko.test", "role": "admin"}),
                      (f"{USERS}/{target.id}/role", {"role": "admin"}),
                      (f"{USERS}/{target.id}/active", {"active": "0"}),
                      (KEYS, {"name": "sneaky"}),
                      (f"{KEYS}/anything/revoke", {})]:
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert user(console_app, "viewer@roko.test").role == "viewer"
    with console_app.app_context():
        assert db.session.scalars(select(User).where(User.email == "new@roko.test")).first() is None
        assert db.session.scalars(select(ApiKey)).first() is None


def test_admin_menu_lists_the_admin_pages_and_operator_menu_does_not(login: Any) -> None:
    admin_page = login("admin").get("/console/").get_data(as_text=True)
    operator_page = login("operator").get("/console/").get_data(as_text=True)
    for url in ADMIN_GETS:
        assert f'href="{url}"' in admin_page
        assert f'href="{url}"' not in operator_page
    for url in ("/console/compose", "/console/replies", "/console/codes"):
        assert f'href="{url}"' in operator_page
    assert 'href="/console/compose"' not in login("viewer").get("/console/").get_data(as_text=True)


@pytest.mark.parametrize(("url", "data"), [(USERS, {"email": "x@roko.test", "role": "viewer"}), (KEYS, {"name": "x"})])
def test_admin_forms_without_csrf_are_refused(console_app: Any, login: Any, url: str, data: dict[str, str]) -> None:
    assert login("admin").post(url, data=data).status_code == 400


# --- users ---------------------------------------------------------------------------------

def test_create_a_user_with_a_generated_password_shown_once(console_app: Any, login: Any) -> None:
    client = login("admin")
    response = form_post(client, USERS, email=" New.Operator@Roko.test ", role="operator", password="")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    password = re.search(r'<code class="secret-value" id="new-password">([^<]+)</code>', html).group(1)
    assert user(console_app, "new.operator@roko.test").role == "operator"
    assert password not in client.get(USERS).get_data(as_text=True)  # never shown again
    assert log_in(console_app.test_client(), "new.operator@roko.test", password).get("/console/compose").status_code == 200
    (event,) = events(console_app, "user.create")
    assert (event.actor, event.target, event.details) == ("admin@roko.test", "new.operator@roko.test", {"role": "operator"})
    assert password not in str(event.details)


def test_create_a_user_with_a_typed_password(console_app: Any, login: Any) -> None:
    response = form_post(login("admin"), USERS, email="typed@roko.test", role="viewer", password="a long typed password")
    assert response.status_code == 200
    assert 'id="new-password"' not in response.get_data(as_text=True)
    assert log_in(console_app.test_client(), "typed@roko.test", "a long typed password").get("/console/").status_code == 200


@pytest.mark.parametrize(("email", "password", "message"), [
    ("operator@roko.test", "", "An account with this e-mail exists already."),
    ("not-an-email", "", "This is not an e-mail address."),
    ("short@roko.test", "short", "A password needs at least 10 characters."),
])
def test_refused_accounts(console_app: Any, login: Any, email: str, password: str, message: str) -> None:
    response = form_post(english(login("admin")), USERS, email=email, role="viewer", password=password)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert events(console_app, "user.create") == []


def test_change_a_role_ends_that_users_sessions_and_is_audited(console_app: Any, login: Any) -> None:
    viewer_session = login("viewer")
    target = user(console_app, "viewer@roko.test")
    response = form_post(login("admin"), f"{USERS}/{target.id}/role", role="operator")
    assert response.status_code == 302 and response.headers["Location"] == USERS
    assert user(console_app, "viewer@roko.test").role == "operator"
    assert viewer_session.get("/console/").status_code == 302  # logged out by the change
    (event,) = events(console_app, "user.role")
    assert event.target == "viewer@roko.test" and event.details == {"from": "viewer", "to": "operator"}


def test_an_unknown_role_is_refused(console_app: Any, login: Any) -> None:
    target = user(console_app, "viewer@roko.test")
    assert form_post(login("admin"), f"{USERS}/{target.id}/role", role="superuser").status_code == 400
    assert user(console_app, "viewer@roko.test").role == "viewer"


def test_deactivate_and_reactivate(console_app: Any, login: Any) -> None:
    admin = login("admin")
    target = user(console_app, "operator@roko.test")
    assert form_post(admin, f"{USERS}/{target.id}/active", active="0").status_code == 302
    assert user(console_app, "operator@roko.test").active is False
    refused = post_login(console_app.test_client(), "operator@roko.test")
    assert refused.status_code == 200  # the log-in form again, not a redirect
    assert form_post(admin, f"{USERS}/{target.id}/active", active="1").status_code == 302
    assert user(console_app, "operator@roko.test").active is True
    assert [e.action for e in events(console_app, "user.deactivate") + events(console_app, "user.reactivate")] == [
        "user.deactivate", "user.reactivate"]


def test_an_admin_cannot_demote_or_deactivate_themselves(console_app: Any, login: Any) -> None:
    client = english(login("admin"))
    me = user(console_app, "admin@roko.test")
    for url, data in [(f"{USERS}/{me.id}/role", {"role": "viewer"}), (f"{USERS}/{me.id}/active", {"active": "0"})]:
        response = form_post(client, url, **data)
        assert response.status_code == 400
        assert "You cannot change your own role or deactivate yourself" in response.get_data(as_text=True)
    again = user(console_app, "admin@roko.test")
    assert again.role == "admin" and again.active
    assert events(console_app, "user.role") == [] and events(console_app, "user.deactivate") == []


def test_unknown_user_is_404(login: Any) -> None:
    assert form_post(login("admin"), f"{USERS}/999999/role", role="viewer").status_code == 404


# --- API keys ------------------------------------------------------------------------------

@pytest.fixture
def key_app(make_app: Any, simulator: Any) -> Any:
    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_CONNECT_TIMEOUT=0.5, TOPAZ_READ_TIMEOUT=0.5)
    make_user(app, "admin@roko.test", "admin")
    return app


def send(app: Any, key: str) -> Any:
    return app.test_client().post("/api/v1/sms/send", headers={"x-api-key": key},
                                  json={"phone_number": "612345678", "text": "Merci pour votre participation ROKO."})


def test_an_api_key_is_shown_once_works_and_once_revoked_is_refused(key_app: Any) -> None:
    client = log_in(key_app.test_client(), "admin@roko.test")
    response = form_post(client, KEYS, page=KEYS, name="ops-dashboard")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    key = re.search(r'<code class="secret-value" id="new-key">([^<]+)</code>', response.get_data(as_text=True)).group(1)
    assert key.startswith("roko_")
    listing = client.get(KEYS).get_data(as_text=True)
    assert key not in listing and 'id="key-ops-dashboard"' in listing and key[:11] in listing  # the prefix only
    assert send(key_app, key).status_code == 200  # SENT through the simulator

    response = form_post(client, f"{KEYS}/ops-dashboard/revoke", page=KEYS)
    assert response.status_code == 302 and response.headers["Location"] == KEYS
    assert send(key_app, key).status_code == 401
    (created,) = events(key_app, "api_key.create")
    (revoked,) = events(key_app, "api_key.revoke")
    assert (created.actor, created.target) == (revoked.actor, revoked.target) == ("admin@roko.test", "ops-dashboard")
    assert key not in str(created.details)


@pytest.mark.parametrize(("name", "message"), [
    ("ops-dashboard", "A key with this name exists already"),
    ("bad name!", "1 to 64 letters, digits"),
])
def test_refused_key_names(console_app: Any, login: Any, name: str, message: str) -> None:
    client = english(login("admin"))
    assert form_post(client, KEYS, page=KEYS, name="ops-dashboard").status_code == 200
    response = form_post(client, KEYS, page=KEYS, name=name)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert len(events(console_app, "api_key.create")) == 1


def test_revoking_an_unknown_key_is_404(login: Any) -> None:
    assert form_post(login("admin"), f"{KEYS}/nobody/revoke", page=KEYS).status_code == 404


# --- the audit log ---------------------------------------------------------------------------

def test_the_audit_log_is_newest_first_and_paged(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        for i in range(120):
            accounts.audit("cli", "test.event", f"target-{i:03d}")
        db.session.commit()
    client = login("admin")  # its own log-in is the newest event
    first = client.get(AUDIT).get_data(as_text=True)
    targets = re.findall(r"target-(\d{3})", first)
    assert targets == [f"{i:03d}" for i in range(119, 70, -1)]  # 49 of them after the log-in
    login_cell = 'data-action="login">Connexion</td>'
    assert login_cell in first and first.index(login_cell) < first.index("target-119")
    assert pager_link(first, "prev") is None
    older = pager_link(first, "next")
    assert older and older.startswith(AUDIT + "?before=")
    second = client.get(older).get_data(as_text=True)
    assert re.findall(r"target-(\d{3})", second) == [f"{i:03d}" for i in range(70, 20, -1)]
    third = client.get(pager_link(second, "next")).get_data(as_text=True)
    assert re.findall(r"target-(\d{3})", third) == [f"{i:03d}" for i in range(20, -1, -1)]
    assert pager_link(third, "next") is None and f'href="{AUDIT}">«' in third  # back to the newest
    back = client.get(pager_link(third, "prev")).get_data(as_text=True)
    assert re.findall(r"target-(\d{3})", back) == re.findall(r"target-(\d{3})", second)


def test_the_audit_log_pages_by_time_then_id(console_app: Any, login: Any) -> None:
    """Events at the same instant keep their place: none is skipped or shown twice."""
    with console_app.app_context():
        ids = [add_audit_event(T0 + timedelta(seconds=min(i, 3)), target=f"target-{i:03d}").id for i in range(8)]
        db.session.commit()
    client = login("admin")
    url: str | None = AUDIT + "?limit=3"
    seen: list[int] = []
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += [int(i) for i in re.findall(r'<tr id="event-(\d+)"', html)]
        url = pager_link(html, "next")
        assert url is None or "limit=3" in url
    assert seen[1:] == sorted(ids, key=lambda i: (min(ids.index(i), 3), i), reverse=True)  # after the log-in


def test_an_audit_page_past_the_oldest_event_links_back_to_the_newest(console_app: Any, login: Any) -> None:
    html = login("admin").get(AUDIT + "?before=1_1").get_data(as_text=True)  # older than anything
    assert 'id="event-' not in html
    assert pager_link(html, "next") is None and pager_link(html, "prev") is None
    assert f'href="{AUDIT}">«' in html  # a link back to the newest page


def test_every_console_action_lands_in_the_audit_log(console_app: Any, login: Any) -> None:
    """Log in, send, edit a template, import codes, manage users and keys: all readable by the admin."""
    import io

    operator = login("operator")
    token = csrf_from(operator.get("/console/compose").get_data(as_text=True))
    operator.post("/console/compose", data={"csrf_token": token, "numbers": "612345678", "text": "Bonjour"})
    operator.post("/console/replies/VALID_FIRST", data={"csrf_token": token, "text": "Bravo {code} !"})
    operator.post("/console/codes", data={"csrf_token": token, "batch": "LOT-A",
                                          "file": (io.BytesIO(b"code\nU10000001\n"), "c.csv")},
                  content_type="multipart/form-data")
    admin = login("admin")
    form_post(admin, USERS, email="someone@roko.test", role="viewer", password="")
    form_post(admin, KEYS, page=KEYS, name="tool")
    form_post(admin, f"{KEYS}/tool/revoke", page=KEYS)
    html = admin.get(AUDIT).get_data(as_text=True)
    actions = re.findall(r' data-action="([a-z_.]+)">', html)
    assert actions == ["api_key.revoke", "api_key.create", "user.create", "login", "codes.import", "template.edit",
                       "sms.send", "login"]
