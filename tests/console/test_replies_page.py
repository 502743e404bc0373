"""Reply templates: listed with their size, edited with the counter (placeholders filled
with their longest values), refused when they cannot fit one SMS, audited."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import AuditEvent, Outcome, ReplyTemplate
from roko_app.services import replies
from tests.helpers import csrf_from, english

LIST = "/console/replies"


def edit_url(key: str) -> str:
    return f"/console/replies/{key}"


def stored(app: Any, key: str) -> ReplyTemplate:
    with app.app_context():
        row = db.session.get(ReplyTemplate, key)
        db.session.expunge_all()
        return row


def edits(app: Any) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "template.edit")))
        db.session.expunge_all()
        return rows


def save(client: Any, key: str, text: str) -> Any:
    token = csrf_from(client.get(edit_url(key)).get_data(as_text=True))
    return client.post(edit_url(key), data={"csrf_token": token, "text": text})



def test_anonymous_is_sent_to_login(console_app: Any) -> None:
    client = console_app.test_client()
    for url in (LIST, edit_url("VALID_FIRST")):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_viewer_cannot_see_or_edit(console_app: Any, login: Any) -> None:
    client = login("viewer")
    assert client.get(LIST).status_code == 403
    assert client.get(edit_url("VALID_FIRST")).status_code == 403
    token = csrf_from(client.get("/console/").get_data(as_text=True))
    assert client.post(edit_url("VALID_FIRST"), data={"csrf_token": token, "text": "Bravo"}).status_code == 403
    assert stored(console_app, "VALID_FIRST").text == replies.DEFAULT_REPLIES[Outcome.VALID_FIRST]


def test_the_list_shows_every_outcome_with_its_worst_case_size(login: Any) -> None:
    html = login("operator").get(LIST).get_data(as_text=True)
    for key in Outcome:
        assert f'id="reply-{key}"' in html
        assert f'href="/console/replies/{key}"' in html
    # VALID_FIRST filled with U12345678: GSM-7, its length in septets
    filled = replies.DEFAULT_REPLIES[Outcome.VALID_FIRST].format_map(replies.WORST_CASE)
    assert f"GSM-7 · {len(filled)}/160" in html
    for name in replies.PLACEHOLDERS:
        assert "{" + name + "}" in html  # the placeholders are explained


def test_the_edit_page_counts_with_the_longest_values(login: Any) -> None:
    html = login("operator").get(edit_url("VALID_AGAIN")).get_data(as_text=True)
    box = re.search(r'<div class="sms-counter[^"]*" id="text-counter"(.*?)>', html, re.S).group(1)
    assert json.loads(re.search(r"data-fill='([^']*)'", box).group(1)) == replies.WORST_CASE
    filled = replies.DEFAULT_REPLIES[Outcome.VALID_AGAIN].format_map(replies.WORST_CASE)
    assert f'data-units="{len(filled)}"' in box and 'data-encoding="GSM-7"' in box
    assert 'data-submit="save-button"' in box and 'id="save-button"' in html
    assert "Chaque sac de Nano compte" in html  # the current text is in the textarea


def test_saving_a_template_updates_it_and_is_audited(console_app: Any, login: Any) -> None:
    text = "Bravo ! Code {code} validé : {chances} chances au tirage ROKO."
    response = save(login("operator"), "VALID_AGAIN", text)
    assert response.status_code == 302 and response.headers["Location"] == LIST
    row = stored(console_app, "VALID_AGAIN")
    assert row.text == text and row.updated_by == "operator@roko.test"
    (event,) = edits(console_app)
    assert event.actor == "operator@roko.test" and event.target == "VALID_AGAIN"
    assert event.details == {"encoding": "GSM-7", "units": len(text.format_map(replies.WORST_CASE))}


def test_browser_line_breaks_are_saved_as_lf(console_app: Any, login: Any) -> None:
    assert save(login("operator"), "BAD_FORMAT", "Message non reconnu.\r\nEnvoyez ROKO + code.").status_code == 302
    assert stored(console_app, "BAD_FORMAT").text == "Message non reconnu.\nEnvoyez ROKO + code."


@pytest.mark.parametrize(("text", "message"), [
    # 152 + U12345678 = 161 septets once filled
    ("x" * 152 + "{code}", "the reply takes 161 characters in GSM-7; one SMS holds 160"),
    # a ç forces UCS-2: 62 + 9 = 71 units
    ("ç" + "x" * 61 + "{code}", "the reply takes 71 characters in UCS-2; one SMS holds 70"),
    ("Bravo {name}", "{name} is not a placeholder. Use {code}, {chances}, {hours}"),
    ("Bravo {code", "the braces are not right"),
])
def test_a_template_that_cannot_be_saved_is_refused(console_app: Any, login: Any, text: str, message: str) -> None:
    response = save(english(login("operator")), "VALID_FIRST", text)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert stored(console_app, "VALID_FIRST").text == replies.DEFAULT_REPLIES[Outcome.VALID_FIRST]
    assert edits(console_app) == []


def test_a_template_at_the_limit_is_saved(console_app: Any, login: Any) -> None:
    text = "x" * 151 + "{code}"  # 160 septets once filled
    assert save(login("operator"), "VALID_FIRST", text).status_code == 302
    assert stored(console_app, "VALID_FIRST").text == text


def test_an_empty_template_is_refused(console_app: Any, login: Any) -> None:
    assert save(login("operator"), "VALID_FIRST", "   ").status_code == 400
    assert stored(console_app, "VALID_FIRST").text == replies.DEFAULT_REPLIES[Outcome.VALID_FIRST]


def test_an_unknown_outcome_is_404(login: Any) -> None:
    assert login("operator").get(edit_url("NOPE")).status_code == 404


def test_form_without_csrf_is_refused(console_app: Any, login: Any) -> None:
    response = login("operator").post(edit_url("VALID_FIRST"), data={"text": "Bravo {code}"})
    assert response.status_code == 400
    assert stored(console_app, "VALID_FIRST").text == replies.DEFAULT_REPLIES[Outcome.VALID_FIRST]
