"""The counter as the server renders it (before any script runs): the rewrite it offers,
the characters left and a template's problems, from the same vectors as the browser test
(tests/data/suggestion_cases.json, tests/data/placeholder_cases.json)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import render_template_string

from roko_app.console.sms_counter import measure, visible
from roko_app.services import replies
from tests.helpers import csrf_from, english

DATA = Path(__file__).resolve().parent.parent / "data"
SUGGESTION_CASES: list[dict[str, Any]] = json.loads((DATA / "suggestion_cases.json").read_text(encoding="utf-8"))
PLACEHOLDERS = json.loads((DATA / "placeholder_cases.json").read_text(encoding="utf-8"))

MACRO = ('{% from "console/_sms_counter.html" import sms_counter with context %}'
         '{{ sms_counter("box", info, "send", fill=fill) }}')


def render_box(app: Any, text: str, fill: dict[str, str] | None = None, lang: str = "fr") -> str:
    with app.test_request_context(headers={"Cookie": f"roko_lang={lang}"}):
        return render_template_string(MACRO, info=measure(text, fill), fill=fill)


def attribute(box: str, name: str) -> str:
    return html.unescape(re.search(rf"{name}=(['\"])(.*?)\1", box, re.S).group(2))


def role(box: str, name: str) -> tuple[bool, str]:
    """(hidden, text) of the element with data-role=name."""
    match = re.search(rf'<(\w+)[^>]*data-role="{name}"([^>]*)>(.*?)</\1>', box, re.S)
    assert match, name
    return " hidden" in match.group(2), html.unescape(match.group(3)).strip()


@pytest.mark.parametrize("case", SUGGESTION_CASES, ids=[c["name"] for c in SUGGESTION_CASES])
def test_the_rewrite_offered_is_rendered_by_the_server(app: Any, case: dict[str, Any]) -> None:
    box = render_box(app, case["text"], case.get("fill"))
    assert attribute(box, "data-suggest") == (case["action"] or "")
    assert role(box, "replace")[0] == (case["action"] != "replace")
    note_hidden, note = role(box, "remove-note")
    assert note_hidden == role(box, "remove")[0] == (case["action"] != "remove")
    if case["action"] == "remove":
        assert note.startswith("Seuls ces caractères imposent l'UCS-2")
        assert f": {' '.join(visible(ch) for ch in case['removed'])}. Sans eux" in note


def test_remove_says_when_it_also_replaces(app: Any) -> None:
    assert role(render_box(app, "Bravo 🎉"), "remove")[1] == "Les retirer"
    assert role(render_box(app, "Bravo 🎉 reçu"), "remove")[1] == "Les retirer et remplacer les autres par des " \
                                                                  "caractères GSM"
    assert role(render_box(app, "Bravo 🎉", lang="en"), "remove")[1] == "Remove them"


@pytest.mark.parametrize(("text", "french", "english_line"), [
    ("a" * 158, "2 caractères restants", "2 characters left"),
    ("a" * 159, "1 caractère restant", "1 character left"),
    ("a" * 160, "0 caractère restant", "0 characters left"),
    ("a" * 158 + "€", "0 caractère restant", "0 characters left"),  # € costs 2 septets
    ("ç" * 69, "1 caractère restant", "1 character left"),
    ("", "160 caractères restants", "160 characters left"),
])
def test_characters_left_with_the_plural_of_each_language(app: Any, text: str, french: str, english_line: str) -> None:
    box = render_box(app, text)
    assert role(box, "remaining") == (False, french)
    assert attribute(box, "data-remaining") == french.split()[0]
    assert role(render_box(app, text, lang="en"), "remaining") == (False, english_line)


def test_characters_left_are_hidden_once_over_one_sms(app: Any) -> None:
    box = render_box(app, "a" * 161)
    assert role(box, "remaining")[0] is True
    assert attribute(box, "data-remaining") == "0"


def test_a_template_counts_what_is_left_once_filled(app: Any) -> None:
    box = render_box(app, "x" * 150 + "{code}", PLACEHOLDERS["fill"])  # 150 + 9
    assert role(box, "remaining") == (False, "1 caractère restant")


@pytest.mark.parametrize("case", PLACEHOLDERS["cases"], ids=[c["name"] for c in PLACEHOLDERS["cases"]])
def test_a_templates_problems_are_rendered_by_the_server(app: Any, case: dict[str, Any]) -> None:
    box = render_box(app, case["text"], PLACEHOLDERS["fill"])
    assert json.loads(attribute(box, "data-problems")) == {k: case[k] for k in ("unknown", "formatted", "broken")}
    hidden, note = role(box, "problems")
    assert hidden == (not (case["unknown"] or case["formatted"] or case["broken"]))
    for field in case["formatted"]:
        assert f"Un champ ne prend ni format ni conversion : {', '.join(case['formatted'])}." in note, field
    for name in case["unknown"]:
        assert name in note and "Champ inconnu" in note
    if case["broken"]:
        assert note.startswith(f"Accolade seule : {' '.join(case['broken'])}.")


def test_a_plain_text_has_no_template_problems(app: Any) -> None:
    box = render_box(app, "Bravo {name} {chances:0>60}")
    assert "data-problems" not in box
    assert role(box, "problems")[0] is True


@pytest.mark.parametrize(("lang", "server", "page"), [
    ("fr", "Non enregistré : un champ ne prend ni format ni conversion : {chances:0&gt;60}. Écrivez {chances}.",
     "Un champ ne prend ni format ni conversion : {chances:0&gt;60}. Écrivez {chances}. L'enregistrement sera "
     "refusé."),
    ("en", "Not saved: a placeholder takes no format or conversion: {chances:0&gt;60}. Write {chances}.",
     "A placeholder takes no format or conversion: {chances:0&gt;60}. Write {chances}. Saving will be refused."),
])
def test_the_server_refuses_a_format_spec_in_the_words_of_the_page(login: Any, lang: str, server: str,
                                                                   page: str) -> None:
    """Issue 13: {chances:0>60} was saved and counted as 60 characters while the page
    called it "not a placeholder"; now both refuse it, saying the same."""
    client = login("operator")
    if lang == "en":
        english(client)
    url = "/console/replies/VALID_AGAIN"
    token = csrf_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "text": "Vous avez {chances:0>60} chances."})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert server in body
    assert page in body  # the counter's line, rendered by the server with the form
    with client.application.app_context():
        assert replies.get_template("VALID_AGAIN").text == replies.DEFAULT_REPLIES["VALID_AGAIN"]


def test_what_the_operator_typed_is_escaped_in_the_problems_line(app: Any) -> None:
    box = render_box(app, "{<b>x</b>} {<i>:1}", PLACEHOLDERS["fill"])
    assert "<b>" not in box and "<i>" not in box
    assert "{&lt;b&gt;x&lt;/b&gt;}" in box and "{&lt;i&gt;:1}" in box


@pytest.mark.parametrize(("char", "shown"), [
    ("🎉", "🎉"), ("你", "你"), ("\u200d", "[U+200D]"), ("\ufe0f", "[U+FE0F]"), ("\u0301", "[U+0301]"),
    ("\u00a0", "[U+00A0]"), ("\u3000", "[U+3000]"), ("\u061c", "[U+061C]"), ("\U0001f3fd", "\U0001f3fd"),
])
def test_invisible_characters_are_listed_by_their_code_point(char: str, shown: str) -> None:
    assert visible(char) == shown


def test_the_remove_note_names_invisible_characters_as_the_script_does(app: Any) -> None:
    note = role(render_box(app, "Merci \u2764\ufe0f"), "remove-note")[1]
    assert ": \u2764 [U+FE0F]. Sans eux" in note
