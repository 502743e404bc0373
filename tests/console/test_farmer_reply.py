"""Reply from the farmer's page (issue 13, part 2): a message box with the live counter on
the conversation, sending through the outbox as compose does (one SMS at most, nothing to a
number that sent STOP), for operators and admins only, audited, and the message is in the
thread after the redirect."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms, Priority
from tests.factories import T0, add_entry, add_participant
from tests.helpers import csrf_from

FARMER = "612345678"
URL = f"/console/farmers/{FARMER}"
SEND = URL + "/send"


@pytest.fixture
def farmer(console_app: Any) -> str:
    with console_app.app_context():
        add_entry(FARMER, "VALID_FIRST", T0, code="U10000001", chances=1)
        db.session.commit()
    return FARMER


def outbox(app: Any) -> list[OutboundSms]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))
        db.session.expunge_all()
        return rows


def send_events(app: Any) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sms.send")))


def post(client: Any, text: str, **extra: str) -> Any:
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(SEND, data={"csrf_token": token, "text": text, **extra})


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_the_page_has_a_box_with_the_counter(login: Any, farmer: str, role: str) -> None:
    html = login(role).get(URL).get_data(as_text=True)
    box = re.search(r'<div class="farmer-send" id="send">(.*?)</div>\s*</section>', html, re.S)[1]
    assert f'action="{SEND}"' in box and 'name="csrf_token"' in box
    assert 'data-sms-counter="text-counter"' in box and 'id="text-counter"' in box
    assert 'data-units="0"' in box and 'data-limit="160"' in box
    assert 'id="sms-rules"' in html and "js/counter.js" in html
    assert html.index('class="conversation"') < html.index('id="send"'), "the box is under the thread"


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_a_message_is_queued_audited_and_shown_in_the_thread(console_app: Any, login: Any, farmer: str,
                                                              role: str) -> None:
    client = login(role)
    response = post(client, "Bonjour, votre reçu est prêt")
    (row,) = outbox(console_app)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{URL}#out-{row.id}"
    assert (row.to_msisdn, row.text, row.status, row.caller, row.priority, row.encoding, row.units) == (
        FARMER, "Bonjour, votre reçu est prêt", "QUEUED", f"{role}@roko.test", Priority.API, "UCS-2", 28)
    (event,) = send_events(console_app)
    assert (event.actor, event.target) == (f"{role}@roko.test", FARMER)
    assert event.details == {"count": 1, "encoding": "UCS-2", "units": 28, "first_id": row.id, "last_id": row.id}

    page = unescape(client.get(URL).get_data(as_text=True))
    assert f"Message en file d'attente pour le {FARMER} ; il part dans la minute." in page
    thread = re.search(r'<ol class="conversation">(.*?)</ol>', page, re.S)[1]
    item = re.search(rf'<li class="out" id="out-{row.id}">(.*?)</li>', thread, re.S)[1]
    assert "Bonjour, votre reçu est prêt" in item


def test_browser_line_breaks_are_sent_as_lf(console_app: Any, login: Any, farmer: str) -> None:
    assert post(login("operator"), "Bonjour\r\nà demain").status_code == 302
    assert [row.text for row in outbox(console_app)] == ["Bonjour\nà demain"]


def test_a_number_that_sent_stop_is_refused_in_french(console_app: Any, login: Any, farmer: str) -> None:
    client = login("operator")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    with console_app.app_context():
        add_participant(FARMER, opted_out_at=T0)  # it texts STOP while the page is open
        db.session.commit()
    response = client.post(SEND, data={"csrf_token": token, "text": "Bonjour"})
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 409
    assert (f"Rien n'a été envoyé : le {FARMER} a demandé à ne plus recevoir de messages (il a envoyé STOP)."
            in html)
    assert outbox(console_app) == [] and send_events(console_app) == []

    page = unescape(client.get(URL).get_data(as_text=True))
    assert "La console ne peut envoyer aucun message à ce numéro : il a envoyé STOP." in page
    assert f'action="{SEND}"' not in page and "js/counter.js" not in page, "no box to type in for nothing"


def test_a_viewer_has_no_box_and_cannot_send(console_app: Any, login: Any, farmer: str) -> None:
    client = login("viewer")
    page = client.get(URL).get_data(as_text=True)
    assert 'id="send"' not in page and SEND not in page and "js/counter.js" not in page
    response = client.post(SEND, data={"csrf_token": csrf_from(page), "text": "Bonjour"})
    assert response.status_code == 403
    assert outbox(console_app) == [] and send_events(console_app) == []


@pytest.mark.parametrize(("text", "sent"), [
    ("x" * 160, True),  # GSM-7: one SMS holds 160
    ("x" * 161, False),
    ("ç" + "x" * 69, True),  # UCS-2: 70
    ("ç" + "x" * 70, False),
    ("€" * 80, True),  # two septets each (escape + character): 160
    ("€" * 80 + "x", False),
])
def test_one_sms_at_most(console_app: Any, login: Any, farmer: str, text: str, sent: bool) -> None:
    response = post(login("operator"), text)
    if sent:
        assert response.status_code == 302
        assert [row.text for row in outbox(console_app)] == [text]
        return
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "Le message ne tient pas dans un SMS" in html
    assert f"{text}</textarea>" in html, "the text is kept to be shortened"
    assert outbox(console_app) == [] and send_events(console_app) == []


@pytest.mark.parametrize("text", ["", "  \n "])
def test_an_empty_message_is_refused(console_app: Any, login: Any, farmer: str, text: str) -> None:
    response = post(login("operator"), text)
    assert response.status_code == 400
    assert "Le message est vide." in response.get_data(as_text=True)
    assert outbox(console_app) == []


def test_without_the_csrf_token_nothing_is_sent(console_app: Any, login: Any, farmer: str) -> None:
    response = login("operator").post(SEND, data={"text": "Bonjour"})
    assert response.status_code == 400
    assert outbox(console_app) == []


def test_a_foreign_sender_has_no_box_and_nothing_is_sent(console_app: Any, login: Any) -> None:
    with console_app.app_context():
        add_entry("+33612345678", "BAD_FORMAT", T0, text="hello", guinea=False)
        db.session.commit()
    client = login("operator")
    page = unescape(client.get("/console/farmers/+33612345678").get_data(as_text=True))
    assert "Aucun SMS ne peut être envoyé à ce numéro : ce n'est pas un numéro mobile guinéen." in page
    assert "/send" not in page
    response = client.post("/console/farmers/+33612345678/send", data={"csrf_token": csrf_from(page), "text": "Hi"})
    assert response.status_code == 400
    assert "+33612345678 n'est pas un numéro mobile guinéen" in unescape(response.get_data(as_text=True))
    assert outbox(console_app) == []


@pytest.mark.parametrize("number", ["622000000", "not-a-number"])
def test_a_number_without_a_page_is_not_found(console_app: Any, login: Any, farmer: str, number: str) -> None:
    client = login("operator")
    token = csrf_from(client.get(URL).get_data(as_text=True))
    response = client.post(f"/console/farmers/{number}/send", data={"csrf_token": token, "text": "Bonjour"})
    assert response.status_code == 404
    assert outbox(console_app) == []
