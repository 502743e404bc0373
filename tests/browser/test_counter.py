"""The live counter agrees exactly with the Python rules (roko_app/sms/encoding.py and
roko_app/sms/templates.py).

Every case of tests/data/segment_cases.json is typed into the compose textarea (fill) and
the counter's data attributes are compared with the expected values; the GSM-safe
button is compared with ``gsm_safe``; and the script's own functions are checked
against ``analyze``/``gsm_safe`` on the raw texts (including the CR a textarea cannot
hold) and on random texts.

A textarea turns CR and CRLF into LF (HTML's newline normalisation), so for the cases
holding a CR the expectation is Python's ``analyze`` of the text the textarea holds;
the server turns the CRLF a browser submits back into LF, so what the counter shows is
what is sent.

The rewrite offered (tests/data/suggestion_cases.json), the characters left and a reply
template's problems (tests/data/placeholder_cases.json) are checked the same way.
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path
from typing import Any

from roko_app.console.sms_counter import visible
from roko_app.sms.encoding import GSM7_BASIC, GSM7_EXTENSION, GSM_SAFE_REPLACEMENTS, analyze, gsm_safe, suggest
from roko_app.sms.templates import read_template
from tests.helpers import log_in_browser

DATA = Path(__file__).resolve().parent.parent / "data"
CASES: list[dict[str, Any]] = json.loads((DATA / "segment_cases.json").read_text(encoding="utf-8"))
GSM_SAFE_CASES: list[dict[str, str]] = json.loads((DATA / "gsm_safe_cases.json").read_text(encoding="utf-8"))
SUGGESTION_CASES: list[dict[str, Any]] = json.loads((DATA / "suggestion_cases.json").read_text(encoding="utf-8"))
PLACEHOLDERS: dict[str, Any] = json.loads((DATA / "placeholder_cases.json").read_text(encoding="utf-8"))

READ_BOX = "box => ({encoding: box.dataset.encoding, units: Number(box.dataset.units), limit: Number(box.dataset.limit), " \
           "fits: box.dataset.fits === 'true', segments: Number(box.dataset.segments), " \
           "offending: JSON.parse(box.dataset.offending)})"
# One round trip per case: what the textarea holds, what the counter shows, the button.
READ_STATE = "() => ({held: document.getElementById('text').value, shown: (" + READ_BOX + ")(" \
             "document.getElementById('text-counter')), disabled: document.getElementById('send-button').disabled, " \
             "replace: !document.querySelector('#text-counter [data-role=replace]').hidden, " \
             "remove: !document.querySelector('#text-counter [data-role=remove]').hidden, " \
             "suggest: document.getElementById('text-counter').dataset.suggest, " \
             "remaining: document.querySelector('#text-counter [data-role=remaining]').hidden ? null : " \
             "document.querySelector('#text-counter [data-role=remaining]').textContent})"
# The reply page: the counter's reading of the template, and its problems line.
READ_TEMPLATE = "() => { const box = document.getElementById('text-counter'); " \
                "const note = box.querySelector('[data-role=problems]'); " \
                "return {units: Number(box.dataset.units), suggest: box.dataset.suggest, " \
                "problems: JSON.parse(box.dataset.problems), note: note.hidden ? null : note.textContent}; }"


def gsm_safe_table() -> list[str]:
    """The inputs of the gsm_safe table (tests/data/gsm_safe_cases.json, also run by
    tests/sms/test_encoding.py), plus that module's other examples."""
    return [case["text"] for case in GSM_SAFE_CASES] + [
        "Votre reçu est prêt à l\u2019entrepôt « ROKO »…",
        "Bravo\u00a0! Votre code\u202f: U12345678 \u2013 tirage le 5\u2009mai",
        "Œuvre du cœur, Noël à Ÿ, maïs, ÎLE, À BIENTÔT, Être",
        "Félicitations ! Ça a été accepté, à bientôt où vous êtes",
        "Bravo 🎉 reçu",
        "مرحبا",
        "ROKO U12345678 : 5 € {ok} [1] ~ | ^ \\ Ça été",
        "n°\u0302",
        "ë\u0301",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    ]


def textarea_form(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def expected(text: str) -> dict[str, Any]:
    info = analyze(text)
    return {"encoding": info.encoding, "units": info.units, "limit": info.limit, "fits": info.fits,
            "segments": info.segments, "offending": list(info.offending)}


def random_texts(count: int, seed: int = 20260515) -> list[str]:
    """Mixed texts around the limits: GSM basic and extension characters, replaceable
    ones, combining marks, emoji and other scripts."""
    rng = random.Random(seed)
    alphabet = (list(GSM7_BASIC) + list(GSM7_EXTENSION) * 3 + list(GSM_SAFE_REPLACEMENTS)
                + ["\u0301", "\u0302", "\u0327", "\u0308", "🎉", "👍🏽", "\U0001f1ec", "你", "ب", "α", "\u200d", "\ufe0f"])
    texts = []
    for _ in range(count):
        length = rng.choice([rng.randint(0, 20), rng.randint(60, 80), rng.randint(130, 170), rng.randint(290, 320)])
        weights = rng.choice(["gsm", "mixed"])
        pool = list(GSM7_BASIC) + list(GSM7_EXTENSION) if weights == "gsm" else alphabet
        texts.append("".join(rng.choice(pool) for _ in range(length)))
    return texts


def test_the_counter_agrees_with_every_segment_case(page: Any, reading_server: str) -> None:
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/compose")
    textarea = page.locator("#text")
    disagreements = []
    for case in CASES:
        textarea.fill(case["text"])
        state = page.evaluate(READ_STATE)
        held = state["held"]
        assert held == textarea_form(case["text"]), case["name"]
        want = {k: case[k] for k in ("encoding", "units", "fits", "segments", "offending")}
        want["limit"] = 160 if case["encoding"] == "GSM-7" else 70
        if held != case["text"]:  # a CR the textarea turned into LF
            want = expected(held)
        if state["shown"] != want:
            disagreements.append((case["name"], state["shown"], want))
        assert state["disabled"] == (not want["fits"] or not held.strip()), case["name"]
    assert disagreements == []


def test_the_script_functions_agree_with_python_on_raw_and_random_texts(page: Any, reading_server: str) -> None:
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/compose")
    texts = [case["text"] for case in CASES] + random_texts(400)
    texts += [case["text"] for case in SUGGESTION_CASES] + gsm_safe_table()
    results = page.evaluate("texts => texts.map(t => { const i = RokoSms.analyze(t); const s = RokoSms.gsmSafe(t);"
                            " const o = RokoSms.suggest(t);"
                            " return [i.encoding, i.units, i.limit, i.fits, i.segments, i.offending, i.text,"
                            " s.text, s.changes, s.isGsm7, o && [o.action, o.text, o.changes, o.removed]]; })", texts)
    for text, got in zip(texts, results, strict=True):
        info, safe, offer = analyze(text), gsm_safe(text), suggest(text)
        assert got == [info.encoding, info.units, info.limit, info.fits, info.segments, list(info.offending), info.text,
                       safe.text, [list(change) for change in safe.changes], safe.is_gsm7,
                       offer and [offer.action, offer.text, [list(change) for change in offer.changes],
                                  list(offer.removed)]], repr(text)


def test_the_buttons_offer_what_suggest_offers_and_give_its_text(page: Any, reading_server: str) -> None:
    """Issue 13: the GSM replacement is offered only when it makes the text GSM-7 without
    costing another SMS; when only emoji (or other characters with no GSM-7 form) force
    UCS-2, the counter says so and offers to remove them."""
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/compose")
    textarea = page.locator("#text")
    texts = [case["text"] for case in SUGGESTION_CASES if "fill" not in case] + gsm_safe_table()
    for text in texts + [case["text"] for case in CASES]:
        textarea.fill(text)
        state = page.evaluate(READ_STATE)
        offer = suggest(state["held"])
        action = offer.action if offer else ""
        assert (state["suggest"], state["replace"], state["remove"]) == (
            action, action == "replace", action == "remove"), repr(text)
        if offer is None:
            continue
        page.locator(f"#text-counter [data-role={action}]").click()
        state = page.evaluate(READ_STATE)
        assert state["held"] == offer.text, repr(text)
        assert state["shown"] == expected(offer.text), repr(text)
        assert state["shown"]["encoding"] == "GSM-7"


def test_the_suggestion_cases_offer_what_they_say(page: Any, reading_server: str) -> None:
    """The shared vectors themselves, on compose (texts) and on the reply page (templates,
    judged once filled with the longest values)."""
    log_in_browser(page, reading_server)
    for where, cases in (("/console/compose", [c for c in SUGGESTION_CASES if "fill" not in c]),
                         ("/console/replies/VALID_AGAIN", [c for c in SUGGESTION_CASES if "fill" in c])):
        page.goto(reading_server + where)
        for case in cases:
            page.locator("#text").fill(case["text"])
            assert page.locator("#text-counter").get_attribute("data-suggest") == (case["action"] or ""), case["name"]
            if case["action"] is None:
                continue
            if case["action"] == "remove":
                note = page.locator("#text-counter [data-role=remove-note]").text_content()
                assert note.startswith("Seuls ces caractères imposent l'UCS-2"), case["name"]
                assert f": {' '.join(visible(ch) for ch in case['removed'])}. Sans eux" in note, case["name"]
            page.locator(f"#text-counter [data-role={case['action']}]").click()
            assert page.locator("#text").input_value() == case["result"], case["name"]
            assert page.locator("#text-counter").get_attribute("data-encoding") == "GSM-7", case["name"]
            assert page.locator("#text-counter [data-role=replaced]").is_visible()


def test_characters_left_in_french(page: Any, reading_server: str) -> None:
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/compose")
    assert page.evaluate(READ_STATE)["remaining"] == "160 caractères restants"
    textarea = page.locator("#text")
    for text, line in [("a" * 158, "2 caractères restants"), ("a" * 159, "1 caractère restant"),
                       ("a" * 160, "0 caractère restant"), ("a" * 157 + "€", "1 caractère restant"),
                       ("ç" * 68, "2 caractères restants"), ("ç" * 69, "1 caractère restant"), ("a" * 161, None),
                       ("ç" * 71, None)]:
        textarea.fill(text)
        state = page.evaluate(READ_STATE)
        assert state["remaining"] == line, text
        info = analyze(text)
        assert page.locator("#text-counter").get_attribute("data-remaining") == str(max(info.limit - info.units, 0))


def test_a_template_is_read_as_the_server_reads_it(page: Any, reading_server: str) -> None:
    """Every case of tests/data/placeholder_cases.json: the counter counts the filled text
    and reports the same problems; saving it, the server refuses it in the same words."""
    log_in_browser(page, reading_server)
    url = reading_server + "/console/replies/VALID_AGAIN"
    page.goto(url)
    csrf = page.locator("#csrf_token").input_value()
    fill = PLACEHOLDERS["fill"]
    for case in PLACEHOLDERS["cases"]:
        page.locator("#text").fill(case["text"])
        state = page.evaluate(READ_TEMPLATE)
        assert state["units"] == analyze(case["filled"]).units, case["name"]
        assert state["problems"] == {k: case[k] for k in ("unknown", "formatted", "broken")}, case["name"]
        assert read_template(case["text"], fill).filled == case["filled"]
        if state["note"] is None:
            assert not (case["unknown"] or case["formatted"] or case["broken"]), case["name"]
            continue
        # Saved with this browser's session (a request, not a navigation: the 400 page
        # would count as a console error), the server's counter line is the script's.
        answer = page.request.post(url, form={"csrf_token": csrf, "text": case["text"]})
        assert answer.status == 400, case["name"]
        served = re.search(r'data-role="problems" class="bad">(.*?)</p>', answer.text(), re.S)
        assert html.unescape(served.group(1)) == state["note"], case["name"]
        assert "Non enregistré" in answer.text(), case["name"]


def test_a_template_is_counted_with_its_placeholders_filled(page: Any, reading_server: str) -> None:
    """Reply templates: {code} counts as U12345678 (9), {chances} as 99999, {hours} as 9999."""
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/replies/VALID_AGAIN")
    textarea, box, save = page.locator("#text"), page.locator("#text-counter"), page.locator("#save-button")
    textarea.fill("x" * 151 + "{code}")
    assert box.evaluate(READ_BOX) == {"encoding": "GSM-7", "units": 160, "limit": 160, "fits": True, "segments": 1,
                                      "offending": []}
    assert save.is_enabled()
    textarea.fill("x" * 152 + "{code}")
    assert box.get_attribute("data-units") == "161" and save.is_disabled()
    textarea.fill("Reçu {code}, {chances} chances, {{ok}}")  # {{ }} are literal braces
    filled = "Reçu U12345678, 99999 chances, {ok}"
    assert box.evaluate(READ_BOX) == expected(filled)
    textarea.fill("Bravo {name}")
    assert page.locator("#text-counter [data-role=problems]").is_visible()
