"""The live counter agrees exactly with the Python rules (roko_app/sms/encoding.py).

Every case of tests/data/segment_cases.json is typed into the compose textarea (fill) and
the counter's data attributes are compared with the expected values; the GSM-safe
button is compared with ``gsm_safe``; and the script's own functions are checked
against ``analyze``/``gsm_safe`` on the raw texts (including the CR a textarea cannot
hold) and on random texts.

A textarea turns CR and CRLF into LF (HTML's newline normalisation), so for the cases
holding a CR the expectation is Python's ``analyze`` of the text the textarea holds;
the server turns the CRLF a browser submits back into LF, so what the counter shows is
what is sent.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from roko_app.sms.encoding import GSM7_BASIC, GSM7_EXTENSION, GSM_SAFE_REPLACEMENTS, analyze, gsm_safe
from tests.helpers import log_in_browser

DATA = Path(__file__).resolve().parent.parent / "data"
CASES: list[dict[str, Any]] = json.loads((DATA / "segment_cases.json").read_text(encoding="utf-8"))
GSM_SAFE_CASES: list[dict[str, str]] = json.loads((DATA / "gsm_safe_cases.json").read_text(encoding="utf-8"))

READ_BOX = "box => ({encoding: box.dataset.encoding, units: Number(box.dataset.units), limit: Number(box.dataset.limit), " \
           "fits: box.dataset.fits === 'true', segments: Number(box.dataset.segments), " \
           "offending: JSON.parse(box.dataset.offending)})"
# One round trip per case: what the textarea holds, what the counter shows, the button.
READ_STATE = "() => ({held: document.getElementById('text').value, shown: (" + READ_BOX + ")(" \
             "document.getElementById('text-counter')), disabled: document.getElementById('send-button').disabled, " \
             "replace: !document.querySelector('#text-counter [data-role=replace]').hidden})"


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
    results = page.evaluate("texts => texts.map(t => { const i = RokoSms.analyze(t); const s = RokoSms.gsmSafe(t);"
                            " return [i.encoding, i.units, i.limit, i.fits, i.segments, i.offending, i.text,"
                            " s.text, s.changes, s.isGsm7]; })", texts)
    for text, got in zip(texts, results, strict=True):
        info, safe = analyze(text), gsm_safe(text)
        assert got == [info.encoding, info.units, info.limit, info.fits, info.segments, list(info.offending), info.text,
                       safe.text, [list(change) for change in safe.changes], safe.is_gsm7], repr(text)


def test_the_replace_button_gives_what_gsm_safe_gives(page: Any, reading_server: str) -> None:
    log_in_browser(page, reading_server)
    page.goto(reading_server + "/console/compose")
    textarea, replace = page.locator("#text"), page.locator("#text-counter [data-role=replace]")
    for text in gsm_safe_table() + [case["text"] for case in CASES]:
        textarea.fill(text)
        state = page.evaluate(READ_STATE)
        suggestion = gsm_safe(state["held"])
        assert state["replace"] == bool(suggestion.changes), repr(text)
        if not suggestion.changes:
            continue
        replace.click()
        state = page.evaluate(READ_STATE)
        assert state["held"] == suggestion.text, repr(text)
        assert state["shown"] == expected(suggestion.text), repr(text)


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
    assert page.locator("#text-counter [data-role=unknown]").is_visible()
