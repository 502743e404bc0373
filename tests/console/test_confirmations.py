"""Destructive console actions ask first (issue 13): cancelling a campaign's unsent
messages, revoking an API key, deactivating a user and unblocking a number go through a
page that says what will happen; the page itself changes nothing, and its form posts the
action (no script: the CSP allows none inline)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import ApiKey, OutboundSms, Participant, User
from tests.factories import T0, add_batch, add_outbound, add_participant, issue_key
from tests.helpers import csrf_from

FARMER = "612345678"


def confirm_form(html: str) -> tuple[str, dict[str, str]]:
    """The action of the confirmation form and its fields."""
    form = re.search(r'<form method="post" action="([^"]+)" class="confirm-form">(.*?)</form>', html, re.S)
    assert form, html
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2]))
    return form[1], fields


def submit(client: Any, html: str) -> Any:
    action, fields = confirm_form(html)
    return client.post(action, data=fields)


def queued_batch(app: Any, queued: int = 3, sent: int = 2) -> int:
    with app.app_context():
        batch = add_batch(T0, "promo-juin", accepted=queued + sent)
        for i in range(queued + sent):
            message = add_outbound(f"62{i:07d}", "Promo ROKO", T0, status="QUEUED" if i < queued else "SENT")
            message.campaign_batch_id = batch.id
        db.session.commit()
        return batch.id


def statuses(app: Any) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(select(OutboundSms.status)))


def test_cancelling_a_campaign_says_how_many_messages_first(console_app: Any, login: Any) -> None:
    batch_id = queued_batch(console_app)
    client = login("operator")
    page = unescape(client.get(f"/console/campaigns/{batch_id}").get_data(as_text=True))
    assert f'href="/console/campaigns/{batch_id}/cancel"' in page
    assert f'action="/console/campaigns/{batch_id}/cancel"' not in page, "no one-click cancel"
    confirm = client.get(f"/console/campaigns/{batch_id}/cancel")
    html = unescape(confirm.get_data(as_text=True))
    assert confirm.status_code == 200
    assert "Annuler les messages non envoyés du lot promo-juin ?" in html
    assert "3 messages de ce lot sont encore en file d'attente" in html
    assert statuses(console_app) == ["QUEUED"] * 3 + ["SENT"] * 2, "the question changes nothing"
    assert f'href="/console/campaigns/{batch_id}"' in html, "a way back"
    assert submit(client, html).status_code == 302
    assert statuses(console_app) == ["CANCELLED"] * 3 + ["SENT"] * 2


def test_one_queued_message_is_said_in_the_singular(console_app: Any, login: Any) -> None:
    batch_id = queued_batch(console_app, queued=1, sent=0)
    html = unescape(login("operator").get(f"/console/campaigns/{batch_id}/cancel").get_data(as_text=True))
    assert "1 message de ce lot est encore en file d'attente : il sera annulé" in html


def test_viewers_get_no_confirmation_pages(console_app: Any, login: Any) -> None:
    batch_id = queued_batch(console_app)
    with console_app.app_context():
        add_participant(FARMER, blocked_until=utcnow() + timedelta(hours=2))
        db.session.commit()
    client = login("viewer")
    for url in (f"/console/campaigns/{batch_id}/cancel", f"/console/farmers/{FARMER}/unblock"):
        assert client.get(url).status_code == 403, url
    assert login("operator").get("/console/admin/api-keys/x/revoke").status_code == 403


def test_unknown_targets_are_404(console_app: Any, login: Any) -> None:
    assert login("operator").get("/console/campaigns/999/cancel").status_code == 404
    assert login("operator").get("/console/farmers/699999999/unblock").status_code == 404
    admin = login("admin")
    assert admin.get("/console/admin/api-keys/nobody/revoke").status_code == 404
    assert admin.get("/console/admin/users/9999/deactivate").status_code == 404


def test_revoking_a_key_names_it_first(console_app: Any, login: Any) -> None:
    issue_key(console_app, "ops-dashboard")
    with console_app.app_context():
        prefix = db.session.scalars(select(ApiKey.key_prefix)).one()
    client = login("admin")
    page = unescape(client.get("/console/admin/api-keys").get_data(as_text=True))
    assert 'href="/console/admin/api-keys/ops-dashboard/revoke"' in page
    html = unescape(client.get("/console/admin/api-keys/ops-dashboard/revoke").get_data(as_text=True))
    assert "Révoquer la clé de ops-dashboard ?" in html and f"commence par {prefix}…" in html and "401" in html
    with console_app.app_context():
        assert db.session.scalars(select(ApiKey.revoked_at)).one() is None
    assert submit(client, html).status_code == 302
    with console_app.app_context():
        assert db.session.scalars(select(ApiKey.revoked_at)).one() is not None
    assert client.get("/console/admin/api-keys/ops-dashboard/revoke").status_code == 404, "already revoked"


def test_deactivating_a_user_says_its_sessions_end(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        target = db.session.scalars(select(User).where(User.email == "viewer@roko.test")).one()
    client = login("admin")
    page = unescape(client.get("/console/admin/users").get_data(as_text=True))
    assert f'href="/console/admin/users/{target.id}/deactivate"' in page
    html = unescape(client.get(f"/console/admin/users/{target.id}/deactivate").get_data(as_text=True))
    assert "Désactiver viewer@roko.test ?" in html and "toutes ses sessions ouvertes se terminent" in html
    assert confirm_form(html) == (f"/console/admin/users/{target.id}/active",
                                  {"csrf_token": csrf_from(html), "active": "0"})
    assert submit(client, html).status_code == 302
    with console_app.app_context():
        assert db.session.get(User, target.id).active is False
    page = unescape(client.get("/console/admin/users").get_data(as_text=True))
    assert f'href="/console/admin/users/{target.id}/deactivate"' not in page, "reactivating needs no question"


def test_unblocking_says_until_when_and_what_changes(console_app: Any, login: Any) -> None:
    until = utcnow().replace(microsecond=0) + timedelta(hours=2)
    with console_app.app_context():
        add_participant(FARMER, blocked_until=until)
        db.session.commit()
    client = login("operator")
    html = unescape(client.get(f"/console/farmers/{FARMER}/unblock").get_data(as_text=True))
    assert f"{FARMER} est bloqué jusqu'au {until:%d/%m/%Y %H:%M}" in html
    with console_app.app_context():
        assert db.session.scalars(select(Participant.blocked_until)).one() is not None
    assert submit(client, html).status_code == 302
    with console_app.app_context():
        assert db.session.scalars(select(Participant.blocked_until)).one() <= utcnow()
