"""The compose page: roles, CSRF, numbers checked and normalised, text checked with analyze,
one outbox row per number, the audit entry, and the counter's data served from encoding.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, OutboundSms, OutboundStatus, Priority
from roko_app.sms import encoding
from tests.helpers import csrf_from, english

URL = "/console/compose"


def outbox(app: Any) -> list[OutboundSms]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))
        db.session.expunge_all()
        return rows


def audit_events(app: Any, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows



def post(client: Any, numbers: str, text: str) -> Any:
    token = csrf_from(client.get(URL).get_data(as_text=True))
    return client.post(URL, data={"csrf_token": token, "numbers": numbers, "text": text})


def test_anonymous_is_sent_to_login(console_app: Any) -> None:
    client = console_app.test_client()
    response = client.get(URL)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    token = csrf_from(client.get("/login").get_data(as_text=True))
    response = client.post(URL, data={"csrf_token": token, "numbers": "612345678", "text": "Bonjour"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert outbox(console_app) == []


def test_viewer_cannot_send(console_app: Any, login: Any) -> None:
    client = login("viewer")
    assert client.get(URL).status_code == 403
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    response = client.post(URL, data={"csrf_token": token, "numbers": "612345678", "text": "Bonjour"})
    assert response.status_code == 403
    assert outbox(console_app) == []


@pytest.mark.parametrize("role", ["operator", "admin"])
def test_operator_and_admin_see_the_page_with_the_counter(login: Any, role: str) -> None:
    page = login(role).get(URL)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="text-counter"' in html and 'data-sms-counter="text-counter"' in html
    assert 'data-encoding="GSM-7"' in html and 'data-units="0"' in html and 'data-limit="160"' in html
    assert "/static/js/counter.js" in html


def test_the_counter_gets_the_tables_of_encoding_py(login: Any) -> None:
    """One source of truth: the page carries the module's constants, nothing retyped."""
    html = login("operator").get(URL).get_data(as_text=True)
    block = re.search(r'<script type="application/json" id="sms-rules">(.*?)</script>', html, re.S)
    assert block
    rules = json.loads(block.group(1))
    assert rules == {
        "basic": encoding.GSM7_BASIC,
        "extension": encoding.GSM7_EXTENSION,
        "replacements": encoding.GSM_SAFE_REPLACEMENTS,
        "limits": {"single_gsm7": 160, "single_ucs2": 70, "part_gsm7": 153, "part_ucs2": 67},
    }


def test_no_inline_script_or_style(login: Any) -> None:
    html = login("operator").get(URL).get_data(as_text=True)
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "style=" not in html and "<style" not in html
    assert re.search(r"\son[a-z]+=", html) is None  # no inline event handlers


def test_send_to_several_numbers_queues_one_row_each(console_app: Any, login: Any) -> None:
    client = english(login("operator"))
    numbers = "+224 612 34 56 78\n00224-612.345.679 ; 612345678,\r\n\r\n(+224) 655 00 00 01"
    response = post(client, numbers, "Bonjour, votre lot ROKO est arrivé.")
    assert response.status_code == 302 and response.headers["Location"] == URL
    rows = outbox(console_app)
    assert [r.to_msisdn for r in rows] == ["612345678", "612345679", "655000001"]  # normalised, deduplicated
    for row in rows:
        assert row.status == OutboundStatus.QUEUED
        assert row.text == "Bonjour, votre lot ROKO est arrivé."
        assert (row.encoding, row.units) == ("GSM-7", len(row.text))
        assert row.caller == "operator@roko.test"
        assert row.priority == Priority.API
        assert row.port == console_app.config["TOPAZ_SEND_PORT"]
    (event,) = audit_events(console_app, "sms.send")
    assert event.actor == "operator@roko.test"
    assert event.details["count"] == 3 and event.details["encoding"] == "GSM-7"
    assert (event.details["first_id"], event.details["last_id"]) == (rows[0].id, rows[-1].id)
    assert "3 messages queued" in client.get(URL).get_data(as_text=True)


def test_one_number_is_the_audit_target(console_app: Any, login: Any) -> None:
    assert post(login("operator"), "612345678", "Bonjour").status_code == 302
    (event,) = audit_events(console_app, "sms.send")
    assert event.target == "612345678" and event.details["count"] == 1


def test_a_bad_number_refuses_the_whole_send(console_app: Any, login: Any) -> None:
    client = english(login("operator"))
    response = post(client, "612345678\n+33 6 12 34 56 78\n61234\nabc", "Bonjour")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    problems = html[html.index('id="numbers-problems"'):]
    assert "Nothing was sent" in problems
    assert "+33 6 12 34 56 78</code>: not a Guinea number" in problems
    assert "61234</code>: a Guinea mobile number has 9 digits" in problems
    assert "abc</code>: contains characters other than digits" in problems
    assert "612345678</code>" not in problems  # the good one is not listed
    assert outbox(console_app) == [] and audit_events(console_app, "sms.send") == []


def test_too_many_numbers_are_refused(console_app: Any, login: Any) -> None:
    numbers = "\n".join(f"62{i:07d}" for i in range(501))
    response = post(english(login("operator")), numbers, "Bonjour")
    assert response.status_code == 400
    assert "501 numbers, at most 500" in response.get_data(as_text=True)
    assert outbox(console_app) == []


def test_only_separators_means_no_number(console_app: Any, login: Any) -> None:
    response = post(english(login("operator")), " ,;\n ", "Bonjour")
    assert response.status_code == 400
    assert outbox(console_app) == []


@pytest.mark.parametrize(("text", "shown"), [
    ("a" * 161, "161 characters in GSM-7, at most 160"),
    ("ç" * 71, "71 characters in UCS-2, at most 70"),
    ("€" * 81, "162 characters in GSM-7, at most 160"),
    ("🎉" * 36, "72 characters in UCS-2, at most 70"),
])
def test_a_text_that_does_not_fit_one_sms_is_refused(console_app: Any, login: Any, text: str, shown: str) -> None:
    response = post(english(login("operator")), "612345678", text)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert shown in html
    assert 'data-fits="false"' in html  # the server-rendered counter says so too
    assert outbox(console_app) == []


def test_a_text_at_the_limits_is_sent(console_app: Any, login: Any) -> None:
    client = login("operator")
    assert post(client, "612345678", "a" * 160).status_code == 302
    assert post(client, "612345678", "Votre reçu " + "x" * 59).status_code == 302  # 70 UCS-2 units
    rows = outbox(console_app)
    assert [(r.encoding, r.units) for r in rows] == [("GSM-7", 160), ("UCS-2", 70)]


def test_browser_line_breaks_are_sent_as_lf(console_app: Any, login: Any) -> None:
    """Browsers submit textarea line breaks as CRLF; the counter counts LF (what the
    textarea holds), so the server measures and sends LF too."""
    assert post(login("operator"), "612345678", "Ligne 1\r\nLigne 2").status_code == 302
    (row,) = outbox(console_app)
    assert row.text == "Ligne 1\nLigne 2" and row.units == 15


def test_decomposed_text_is_sent_nfc(console_app: Any, login: Any) -> None:
    assert post(login("operator"), "612345678", "Fe\u0301licitations").status_code == 302
    (row,) = outbox(console_app)
    assert row.text == "Félicitations" and row.encoding == "GSM-7"


def test_empty_fields_are_refused(console_app: Any, login: Any) -> None:
    client = login("operator")
    assert post(client, "", "Bonjour").status_code == 400
    assert post(client, "612345678", "   ").status_code == 400
    assert outbox(console_app) == []


def test_form_without_csrf_is_refused(console_app: Any, login: Any) -> None:
    response = login("operator").post(URL, data={"numbers": "612345678", "text": "Bonjour"})
    assert response.status_code == 400
    assert outbox(console_app) == []


def test_the_number_can_be_prefilled(login: Any) -> None:
    html = login("operator").get(URL + "?to=612345678").get_data(as_text=True)
    assert re.search(r'<textarea[^>]*id="numbers"[^>]*>\s*612345678</textarea>', html)


def test_the_server_renders_the_counter_of_a_refused_text(login: Any) -> None:
    html = post(login("operator"), "bad", "Votre reçu").get_data(as_text=True)
    box = re.search(r'<div class="sms-counter[^"]*" id="text-counter"(.*?)>', html, re.S)
    assert box
    attrs = box.group(1)
    assert 'data-encoding="UCS-2"' in attrs and 'data-units="10"' in attrs and 'data-limit="70"' in attrs
    assert json.loads(re.search(r"data-offending='([^']*)'", attrs).group(1)) == ["ç"]
