"""Messages: the inbound and outbound logs, their filters and keyset pages, and
re-queueing FAILED messages (operators only, with CSRF, audited)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms
from tests.factories import T0, add_entry, add_outbound, add_sms
from tests.helpers import csrf_from, pager_link


def rows(html: str, direction: str) -> list[int]:
    return [int(i) for i in re.findall(rf'<tr id="{direction}-(\d+)"', html)]


@pytest.fixture
def logs(console_app: Any) -> dict[str, Any]:
    with console_app.app_context():
        entry = add_entry("612345678", "VALID_FIRST", T0, code="U00000001", text="ROKO U00000001")
        stray = add_sms("622334455", "hello?", T0 + timedelta(minutes=1))  # not classified (no entry)
        sent = add_outbound("612345678", "Merci !", T0 + timedelta(seconds=1), reply_to=entry.sms_id)
        failed = add_outbound("622334455", "Code inconnu.", T0 + timedelta(minutes=2), status="FAILED", attempts=5,
                              last_error="gave up after 5 attempts: timeout")
        queued = add_outbound("633333333", "Promo", T0 + timedelta(minutes=3), status="QUEUED", attempts=0)
        db.session.commit()
        return {"sms": entry.sms_id, "entry": entry.id, "stray": stray.id, "sent": sent.id, "failed": failed.id,
                "queued": queued.id}


def test_inbound_tab(login: Any, logs: dict[str, Any]) -> None:
    html = login("viewer").get("/console/messages").get_data(as_text=True)
    assert rows(html, "in") == [logs["stray"], logs["sms"]]
    assert f'href="/console/farmers/612345678#entry-{logs["entry"]}"' in html  # the SMS leads to its entry
    assert 'href="/console/farmers/622334455"' in html and "hello?" in html
    assert '<span class="badge VALID_FIRST">Valide, 1re</span>' in html


def test_outbound_tab_and_status_filter(login: Any, logs: dict[str, Any]) -> None:
    client = login("viewer")
    html = client.get("/console/messages?dir=out").get_data(as_text=True)
    assert rows(html, "out") == [logs["queued"], logs["failed"], logs["sent"]]
    assert 'Abandonné après 5 essais : <q translate="no">timeout</q>' in html
    html = client.get("/console/messages?dir=out&status=FAILED").get_data(as_text=True)
    assert rows(html, "out") == [logs["failed"]]
    html = client.get("/console/messages?dir=out&status=SENT").get_data(as_text=True)
    assert rows(html, "out") == [logs["sent"]]


@pytest.mark.parametrize(("query", "direction", "expected"), [
    ("phone=%2B224612345678", "in", ["sms"]),
    ("dir=out&phone=00224622334455", "out", ["failed"]),
    ("dir=out&phone=nonsense", "out", []),
    ("dir=out&status=NOPE", "out", ["queued", "failed", "sent"]),  # ignored, with a warning
])
def test_phone_filter(login: Any, logs: dict[str, Any], query: str, direction: str, expected: list[str]) -> None:
    html = login("viewer").get(f"/console/messages?{query}").get_data(as_text=True)
    assert rows(html, direction) == [logs[name] for name in expected]


def test_the_tabs_and_a_message_s_page_keep_the_filters(login: Any, logs: dict[str, Any]) -> None:
    client = login("viewer")
    html = client.get("/console/messages?dir=out&phone=6223&text=inconnu").get_data(as_text=True)
    assert 'href="/console/messages?dir=in&amp;phone=6223&amp;text=inconnu"' in html
    assert rows(html, "out") == [logs["failed"]]
    link = re.search(rf'href="(/console/messages/out/{logs["failed"]}\?next=[^"]+)"', html)
    assert link is not None
    detail = client.get(link[1].replace("&amp;", "&")).get_data(as_text=True)
    back = re.search(r'<a href="([^"]+)">← Messages</a>', detail)
    assert back is not None and back[1].replace("&amp;", "&") == "/console/messages?dir=out&phone=6223&text=inconnu"
    # opened on its own (or with a link to elsewhere), the page leads back to the outgoing messages
    for alone in (f"/console/messages/out/{logs['failed']}", f"/console/messages/out/{logs['failed']}?next=//evil.example"):
        back = re.search(r'<a href="([^"]+)">← Messages</a>', client.get(alone).get_data(as_text=True))
        assert back is not None and back[1] == "/console/messages?dir=out"


def test_outbound_keyset_pages_with_equal_timestamps(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        ids = [add_outbound(f"6{i:08d}", f"bulk {i}", T0 + timedelta(seconds=min(i, 3)), status="QUEUED").id
               for i in range(9)]
        db.session.commit()
    expected = sorted(ids, key=lambda i: (min(ids.index(i), 3), i), reverse=True)
    client = login("viewer")
    url: str | None = "/console/messages?dir=out&status=QUEUED&limit=2"
    seen: list[int] = []
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += rows(html, "out")
        url = pager_link(html, "next")
        assert url is None or "status=QUEUED" in url and "dir=out" in url
    assert seen == expected


def test_only_operators_see_the_requeue_button(login: Any, logs: dict[str, Any]) -> None:
    button = f'action="/console/messages/{logs["failed"]}/requeue"'
    assert button not in login("viewer").get("/console/messages?dir=out").get_data(as_text=True)
    html = login("operator").get("/console/messages?dir=out").get_data(as_text=True)
    assert button in html
    assert f'action="/console/messages/{logs["sent"]}/requeue"' not in html  # only FAILED rows


def test_operator_requeues_a_failed_message(console_app: Any, login: Any, logs: dict[str, Any]) -> None:
    client = login("operator")
    page = "/console/messages?dir=out&status=FAILED"
    token = csrf_from(client.get(page).get_data(as_text=True))
    response = client.post(f"/console/messages/{logs['failed']}/requeue", data={"csrf_token": token, "next": page})
    assert response.status_code == 302 and response.headers["Location"] == page
    with console_app.app_context():
        message = db.session.get(OutboundSms, logs["failed"])
        assert (message.status, message.attempts) == ("QUEUED", 0)
        (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.requeue"))
        assert (event.actor, event.target) == ("operator@roko.test", str(logs["failed"]))
    html = client.get(page).get_data(as_text=True)
    assert "flash-success" in html and rows(html, "out") == []


def test_requeue_of_a_message_that_is_not_failed(console_app: Any, login: Any, logs: dict[str, Any]) -> None:
    client = login("admin")
    token = csrf_from(client.get("/console/messages?dir=out").get_data(as_text=True))
    response = client.post(f"/console/messages/{logs['sent']}/requeue", data={"csrf_token": token,
                                                                              "next": "https://evil.example/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/messages?dir=out&status=FAILED"  # never off-site
    assert "flash-error" in client.get("/console/messages?dir=out").get_data(as_text=True)
    with console_app.app_context():
        assert db.session.get(OutboundSms, logs["sent"]).status == "SENT"
        assert not list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.requeue")))
    assert client.post("/console/messages/999999/requeue", data={"csrf_token": token}).status_code == 404


def test_viewer_cannot_requeue(console_app: Any, login: Any, logs: dict[str, Any]) -> None:
    client = login("viewer")
    token = csrf_from(client.get("/console/messages?dir=out").get_data(as_text=True))
    assert client.post(f"/console/messages/{logs['failed']}/requeue", data={"csrf_token": token}).status_code == 403
    with console_app.app_context():
        assert db.session.get(OutboundSms, logs["failed"]).status == "FAILED"


def test_requeue_without_csrf_is_refused(console_app: Any, login: Any, logs: dict[str, Any]) -> None:
    assert login("operator").post(f"/console/messages/{logs['failed']}/requeue").status_code == 400
    with console_app.app_context():
        assert db.session.get(OutboundSms, logs["failed"]).status == "FAILED"


def test_anonymous_requeue_goes_to_login(console_app: Any, logs: dict[str, Any]) -> None:
    client = console_app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(f"/console/messages/{logs['failed']}/requeue", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_messages_page_speaks_french_by_default(login: Any, logs: dict[str, Any]) -> None:
    client = login("operator")
    assert "Reçus" in client.get("/console/messages").get_data(as_text=True)
    html = client.get("/console/messages?dir=out").get_data(as_text=True)
    assert "Remettre en file" in html and "Échec" in html and "Envoyés" in html
