"""Tests for roko_app.sms.encoding: GSM-7/UCS-2 detection, units, segments, gsm_safe.

The table in tests/data/segment_cases.json was written by hand from the GSM 03.38
rules; the same file feeds the console's JavaScript counter. The property tests compare
``analyze`` with a deliberately naive reference encoder written here.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from roko_app.sms.encoding import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM_SAFE_REPLACEMENTS,
    PART_GSM7,
    PART_UCS2,
    SINGLE_GSM7,
    SINGLE_UCS2,
    SafeSuggestion,
    SegmentInfo,
    Suggestion,
    analyze,
    gsm_safe,
    suggest,
)
from roko_app.sms.templates import read_template

CASES_FILE = Path(__file__).resolve().parent.parent / "data" / "segment_cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
# gsm_safe's replacements, shared with the browser test of the compose page's button.
GSM_SAFE_CASES: list[dict[str, str]] = json.loads(
    (CASES_FILE.parent / "gsm_safe_cases.json").read_text(encoding="utf-8"))
# What the counter offers (replace / remove / nothing), shared with tests/browser/test_counter.py.
SUGGESTION_CASES: list[dict[str, Any]] = json.loads(
    (CASES_FILE.parent / "suggestion_cases.json").read_text(encoding="utf-8"))

# Copied from the GSM 03.38 table of the team reference (§3.1), independently of the module.
REFERENCE_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
REFERENCE_EXTENSION = "\f^{}\\[~]|€"


# --- reference implementation (naive on purpose) ---------------------------------------


def reference_costs(text: str) -> tuple[str, list[int]]:
    """Encoding and the per-character cost list of the NFC text."""
    text = unicodedata.normalize("NFC", text)
    if all(ch in REFERENCE_BASIC or ch in REFERENCE_EXTENSION for ch in text):
        return "GSM-7", [2 if ch in REFERENCE_EXTENSION else 1 for ch in text]
    return "UCS-2", [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def reference_segments(costs: list[int], single: int, part: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    parts: list[int] = [0]
    for cost in costs:
        if parts[-1] + cost > part:
            parts.append(0)
        parts[-1] += cost
    return len(parts)


def reference_analyze(text: str) -> tuple[str, int, int]:
    encoding, costs = reference_costs(text)
    if encoding == "GSM-7":
        return encoding, sum(costs), reference_segments(costs, 160, 153)
    return encoding, sum(costs), reference_segments(costs, 70, 67)


# --- the shared table --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_segment_cases(case: dict[str, Any]) -> None:
    info = analyze(case["text"])
    assert info.encoding == case["encoding"]
    assert info.units == case["units"]
    assert info.fits is case["fits"]
    assert info.segments == case["segments"]
    assert list(info.offending) == case["offending"]
    assert info.limit == (160 if case["encoding"] == "GSM-7" else 70)
    assert info.text == unicodedata.normalize("NFC", case["text"])


def test_segment_cases_file_is_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    keys = {"name", "text", "encoding", "units", "fits", "segments", "offending"}
    for c in CASES:
        assert set(c) == keys, c["name"]
        assert c["encoding"] in ("GSM-7", "UCS-2")
        assert c["fits"] == (c["units"] <= (160 if c["encoding"] == "GSM-7" else 70))


def test_segment_cases_agree_with_reference_encoder() -> None:
    """The hand-written table and the naive reference must tell the same story."""
    for c in CASES:
        assert reference_analyze(c["text"]) == (c["encoding"], c["units"], c["segments"]), c["name"]


def test_segment_cases_cover_every_gsm_character() -> None:
    covered = "".join(c["text"] for c in CASES)
    missing = set(REFERENCE_BASIC + REFERENCE_EXTENSION) - set(covered)
    assert not missing


# --- constants -------------------------------------------------------------------------------


def test_limits() -> None:
    assert (SINGLE_GSM7, SINGLE_UCS2, PART_GSM7, PART_UCS2) == (160, 70, 153, 67)


def test_character_sets_match_the_reference_table() -> None:
    assert len(GSM7_BASIC) == 127
    assert GSM7_BASIC == REFERENCE_BASIC
    assert GSM7_EXTENSION == REFERENCE_EXTENSION
    assert not set(GSM7_BASIC) & set(GSM7_EXTENSION)
    assert "\x1b" not in GSM7_BASIC


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("@", 0x00),
        ("$", 0x02),
        ("Ç", 0x09),
        ("\n", 0x0A),
        ("\r", 0x0D),
        ("Δ", 0x10),
        ("É", 0x1F - 1),
        ("¤", 0x24 - 1),
        ("¡", 0x40 - 1),
        ("à", 0x7F - 1),
    ],
)
def test_basic_set_is_in_code_order(char: str, code: int) -> None:
    """Index = GSM code, minus one after ESC (0x1B) which is left out."""
    assert GSM7_BASIC.index(char) == code


def test_greek_letters_are_greek_code_points() -> None:
    for ch in "ΔΦΓΛΩΠΨΣΘΞ":
        assert unicodedata.name(ch).startswith("GREEK CAPITAL LETTER")
        assert ch in GSM7_BASIC


def test_lowercase_c_cedilla_is_not_gsm_but_capital_is() -> None:
    assert "Ç" in GSM7_BASIC
    assert "ç" not in GSM7_BASIC


def test_replacement_table_is_plain_json_data() -> None:
    dumped = json.loads(json.dumps(GSM_SAFE_REPLACEMENTS))
    assert dumped == GSM_SAFE_REPLACEMENTS


@pytest.mark.parametrize(("char", "replacement"), sorted(GSM_SAFE_REPLACEMENTS.items()))
def test_replacement_entry(char: str, replacement: str) -> None:
    assert len(char) == 1
    assert char not in GSM7_BASIC and char not in GSM7_EXTENSION, "never replace a GSM char"
    assert unicodedata.normalize("NFC", char) == char, "key would never be seen after NFC"
    assert all(ch in GSM7_BASIC for ch in replacement), "replacement must be GSM-7 basic"


# --- analyze: details --------------------------------------------------------------------


def test_segment_info_is_frozen_with_slots() -> None:
    info = analyze("abc")
    assert isinstance(info, SegmentInfo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.units = 1  # type: ignore[misc]
    assert not hasattr(info, "__dict__")


def test_empty_text() -> None:
    assert analyze("") == SegmentInfo("GSM-7", 0, 160, True, 0, (), "")


def test_text_is_nfc_normalised() -> None:
    info = analyze("Fe\u0301licitations")
    assert info.text == "Félicitations"
    assert info.encoding == "GSM-7"
    assert info.units == 13


def test_lone_surrogate_counts_one_unit() -> None:
    info = analyze("a\ud83c")
    assert (info.encoding, info.units, info.offending) == ("UCS-2", 2, ("\ud83c",))


def test_offending_is_distinct_in_order_of_first_appearance() -> None:
    info = analyze("ç€ê\u2019çêç🎉\u2019")
    assert info.offending == ("ç", "ê", "\u2019", "🎉")


# --- analyze: properties against the reference -------------------------------------------

FRENCH = "çâêîôûÂÊÎÔÛëïÿËÏŸÀÈÙÁÍÓÚáíóúœŒ’‘“”«»…–—\u00a0\u202f°éèàùÉÇ"
EMOJI = "🎉😀👍🇬🇳❤\ufe0f\u200d"
COMBINING = "\u0301\u0300\u0302\u0308\u0327"

gsm_chars = st.sampled_from(REFERENCE_BASIC + REFERENCE_EXTENSION)
mixed_chars = st.one_of(
    st.sampled_from(REFERENCE_BASIC),
    st.sampled_from(REFERENCE_EXTENSION),
    st.sampled_from(FRENCH),
    st.sampled_from(EMOJI),
    st.sampled_from(COMBINING),
    st.characters(),
)
gsm_texts = st.text(alphabet=gsm_chars, max_size=500)
mixed_texts = st.text(alphabet=mixed_chars, max_size=300)
# mostly GSM with the odd accent: exercises NFC and the UCS-2 switch at long lengths
mostly_gsm_texts = st.text(
    alphabet=st.one_of(gsm_chars, gsm_chars, gsm_chars, st.sampled_from(FRENCH + COMBINING)),
    max_size=400,
)
any_texts = st.one_of(gsm_texts, mixed_texts, mostly_gsm_texts)


def check_against_reference(text: str) -> None:
    info = analyze(text)
    encoding, units, segments = reference_analyze(text)
    assert info.encoding == encoding
    assert info.units == units
    assert info.segments == segments
    assert info.limit == (SINGLE_GSM7 if encoding == "GSM-7" else SINGLE_UCS2)
    assert info.fits == (units <= info.limit)
    assert info.text == unicodedata.normalize("NFC", text)
    if encoding == "GSM-7":
        assert info.offending == ()
    else:
        assert info.offending
        assert len(set(info.offending)) == len(info.offending)
        assert all(ch not in REFERENCE_BASIC + REFERENCE_EXTENSION for ch in info.offending)
        assert set(info.offending) == {ch for ch in info.text if ch not in REFERENCE_BASIC + REFERENCE_EXTENSION}
        positions = [info.text.index(ch) for ch in info.offending]
        assert positions == sorted(positions)


@given(any_texts)
@example("a" * 152 + "€" + "a" * 152)
@example("a" * 66 + "🎉" + "a" * 66)
@example("e\u0301" * 161)
def test_analyze_matches_reference(text: str) -> None:
    check_against_reference(text)


@given(st.lists(st.sampled_from(["a", "€", "]", "ç", "🎉", "e\u0301"]), max_size=400))
def test_analyze_matches_reference_near_boundaries(pieces: list[str]) -> None:
    check_against_reference("".join(pieces))


@given(any_texts)
def test_units_never_below_utf16_length_under_ucs2(text: str) -> None:
    """Counting code points (len) would under-count emoji; we must not."""
    info = analyze(text)
    if info.encoding == "UCS-2":
        assert info.units == len(info.text.encode("utf-16-le", "surrogatepass")) // 2
        assert info.units >= len(info.text)
    else:
        assert info.units >= len(info.text)


# --- gsm_safe -------------------------------------------------------------------------------


def test_gsm_safe_french_sentence() -> None:
    result = gsm_safe("Votre reçu est prêt à l\u2019entrepôt « ROKO »…")
    assert result == SafeSuggestion(
        text='Votre recu est pret à l\'entrepot " ROKO "...',
        changes=(
            ("ç", "c"),
            ("ê", "e"),
            ("\u2019", "'"),
            ("ô", "o"),
            ("«", '"'),
            ("»", '"'),
            ("…", "..."),
        ),
        is_gsm7=True,
    )
    assert analyze(result.text).encoding == "GSM-7"
    assert analyze(result.text).units == 44


def test_gsm_safe_french_typography_spaces() -> None:
    result = gsm_safe("Bravo\u00a0! Votre code\u202f: U12345678 \u2013 tirage le 5\u2009mai")
    assert result.text == "Bravo ! Votre code : U12345678 - tirage le 5 mai"
    assert result.changes == (("\u00a0", " "), ("\u202f", " "), ("\u2013", "-"), ("\u2009", " "))
    assert result.is_gsm7


def test_gsm_safe_ligatures_diaereses_and_capitals() -> None:
    result = gsm_safe("Œuvre du cœur, Noël à Ÿ, maïs, ÎLE, À BIENTÔT, Être")
    assert result.text == "OEuvre du coeur, Noel à Y, mais, ILE, A BIENTOT, Etre"
    assert result.changes == (
        ("Œ", "OE"),
        ("œ", "oe"),
        ("ë", "e"),
        ("Ÿ", "Y"),
        ("ï", "i"),
        ("Î", "I"),
        ("À", "A"),
        ("Ô", "O"),
        ("Ê", "E"),
    )
    assert result.is_gsm7


def test_gsm_safe_keeps_gsm_accents() -> None:
    text = "Félicitations ! Ça a été accepté, à bientôt où vous êtes"
    result = gsm_safe(text)
    assert result.text == "Félicitations ! Ça a été accepté, à bientot où vous etes"
    assert result.changes == (("ô", "o"), ("ê", "e"))


@pytest.mark.parametrize("case", GSM_SAFE_CASES)
def test_gsm_safe_table(case: dict[str, str]) -> None:
    result = gsm_safe(case["text"])
    assert result.text == case["expected"]
    assert result.is_gsm7


def test_gsm_safe_emoji_stays_and_is_not_gsm() -> None:
    result = gsm_safe("Bravo 🎉 reçu")
    assert result.text == "Bravo 🎉 recu"
    assert result.changes == (("ç", "c"),)
    assert result.is_gsm7 is False
    assert analyze(result.text).encoding == "UCS-2"


def test_gsm_safe_other_script_stays() -> None:
    result = gsm_safe("مرحبا")
    assert result == SafeSuggestion(text="مرحبا", changes=(), is_gsm7=False)


def test_gsm_safe_gsm_text_unchanged() -> None:
    text = "ROKO U12345678 : 5 € {ok} [1] ~ | ^ \\ Ça été"
    assert gsm_safe(text) == SafeSuggestion(text=text, changes=(), is_gsm7=True)


def test_gsm_safe_empty() -> None:
    assert gsm_safe("") == SafeSuggestion(text="", changes=(), is_gsm7=True)


def test_gsm_safe_composition_created_by_a_replacement_is_replaced_too() -> None:
    """'°' + combining circumflex -> 'o' + U+0302 -> NFC 'ô' -> 'o'."""
    result = gsm_safe("n°\u0302")
    assert result.text == "no"
    assert result.changes == (("°", "o"), ("ô", "o"))
    assert result.is_gsm7


def test_gsm_safe_does_not_remove_zero_width_joiner() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert gsm_safe(family).text == family


@given(any_texts)
@example("n°\u0302")
@example("ë\u0301")
def test_gsm_safe_properties(text: str) -> None:
    result = gsm_safe(text)
    nfc = unicodedata.normalize("NFC", text)
    assert result.text == unicodedata.normalize("NFC", result.text)
    assert result.is_gsm7 == (analyze(result.text).encoding == "GSM-7")
    if analyze(text).encoding == "GSM-7":
        assert result == SafeSuggestion(text=nfc, changes=(), is_gsm7=True)
    originals = [orig for orig, _ in result.changes]
    assert len(originals) == len(set(originals))
    for orig, replacement in result.changes:
        assert GSM_SAFE_REPLACEMENTS[orig] == replacement
    # every replaceable character of the input is reported, none survives
    assert {ch for ch in nfc if ch in GSM_SAFE_REPLACEMENTS} <= set(originals)
    assert not any(ch in GSM_SAFE_REPLACEMENTS for ch in result.text)
    if not originals:
        assert result.text == nfc


@given(st.text(alphabet=st.sampled_from(REFERENCE_BASIC + REFERENCE_EXTENSION + FRENCH)))
def test_gsm_safe_turns_french_into_gsm(text: str) -> None:
    result = gsm_safe(text)
    assert result.is_gsm7
    assert analyze(result.text).encoding == "GSM-7"


# --- the French typography of issue 13 ---------------------------------------------------

@pytest.mark.parametrize(("char", "replacement"), [
    ("\u00b7", "."), ("\u00ba", "o"), ("\u2039", "'"), ("\u203a", "'"), ("\u201a", "'"),
    ("\u00bd", "1/2"), ("\u00d7", "x"), ("\u00f7", "/"), ("\u00b2", "2"), ("\u00b3", "3"), ("\u00b5", "u"),
    ("\u00a9", "(c)"), ("\u00ae", "(R)"), ("\u2122", "TM"), ("\u2030", "o/oo"), ("\ufb01", "fi"), ("\ufb02", "fl"),
    ("\u200e", ""), ("\u200f", ""), ("\u200c", ""), ("\u2028", "\n"), ("\u2029", "\n"), ("Ì", "I"), ("Ò", "O"),
])
def test_issue_13_typography_is_replaced(char: str, replacement: str) -> None:
    assert char not in REFERENCE_BASIC + REFERENCE_EXTENSION
    assert GSM_SAFE_REPLACEMENTS[char] == replacement


def test_gsm7_characters_are_never_replaced() -> None:
    """€ costs 2 septets but is GSM-7; ì and ò are GSM-7 (their capitals are not)."""
    for ch in "€ìòéèàùÉÇ":
        assert ch not in GSM_SAFE_REPLACEMENTS
    assert gsm_safe("5 € ì ò") == SafeSuggestion(text="5 € ì ò", changes=(), is_gsm7=True)


def test_zero_width_joiner_is_still_not_replaced() -> None:
    assert "\u200d" not in GSM_SAFE_REPLACEMENTS


# --- suggest: what the counter offers ------------------------------------------------------


def measure_of(case: dict[str, Any]) -> Any:
    fill = case.get("fill")
    return (lambda text: analyze(read_template(text, fill).filled)) if fill else analyze


@pytest.mark.parametrize("case", SUGGESTION_CASES, ids=[c["name"] for c in SUGGESTION_CASES])
def test_suggestion_cases(case: dict[str, Any]) -> None:
    offer = suggest(case["text"], measure_of(case))
    if case["action"] is None:
        assert offer is None
        return
    assert offer is not None
    assert (offer.action, offer.text, list(offer.removed)) == (case["action"], case["result"], case["removed"])


def test_suggestion_cases_file_is_well_formed() -> None:
    names = [c["name"] for c in SUGGESTION_CASES]
    assert len(names) == len(set(names))
    for c in SUGGESTION_CASES:
        assert set(c) - {"fill"} == {"name", "text", "action", "result", "removed"}, c["name"]
        assert c["action"] in ("replace", "remove", None)
        assert (c["result"] is None) == (c["action"] is None)
        assert bool(c["removed"]) == (c["action"] == "remove"), c["name"]
    assert {c["action"] for c in SUGGESTION_CASES} == {"replace", "remove", None}


def test_a_replacement_that_costs_one_more_sms_is_not_offered() -> None:
    """1 + 53 x '…' is 54 UCS-2 units (1 SMS) and becomes 1 + 159 septets (1 SMS);
    one more '…' makes 163 septets (2 SMS) while UCS-2 still takes 1."""
    assert suggest("ç" + "…" * 53) == Suggestion("replace", "c" + "." * 159, (("ç", "c"), ("…", "...")), ())
    assert suggest("ç" + "…" * 54) is None
    assert analyze("ç" + "…" * 54).segments == 1 and analyze("c" + "." * 162).segments == 2


def test_a_replacement_that_leaves_ucs2_is_not_offered_but_removing_the_emoji_is() -> None:
    assert gsm_safe("Bravo 🎉 reçu").is_gsm7 is False  # what the counter offered before issue 13
    assert suggest("Bravo 🎉 reçu") == Suggestion("remove", "Bravo  recu", (("ç", "c"), ("🎉", "")), ("🎉",))
    assert suggest("Bravo 🎉") == Suggestion("remove", "Bravo ", (("🎉", ""),), ("🎉",))


def test_nothing_is_offered_for_a_gsm7_text_or_when_nothing_would_be_left() -> None:
    assert suggest("Bravo ! 5 €") is None
    assert suggest("") is None
    assert suggest("🎉 👍") is None
    assert suggest("مرحبا") is None


def test_a_template_is_judged_on_its_filled_text_and_rewritten_as_written() -> None:
    text = "ç" + "…" * 50 + "x{code}"
    assert suggest(text) is not None  # {code} as written: 8 septets, 160 in all
    assert suggest(text, lambda t: analyze(t.replace("{code}", "U12345678"))) is None  # 161 once filled
    offer = suggest("Reçu {code}", lambda t: analyze(t.replace("{code}", "U12345678")))
    assert offer is not None and offer.text == "Recu {code}"


@given(any_texts)
@example("ç" + "…" * 54)
@example("Bravo 🎉 reçu")
def test_suggest_properties(text: str) -> None:
    offer = suggest(text)
    before = analyze(text)
    if offer is None:
        return
    after = analyze(offer.text)
    assert before.encoding == "UCS-2"
    assert after.encoding == "GSM-7"
    assert after.segments <= before.segments
    safe = gsm_safe(text)
    if offer.action == "replace":
        assert (offer.text, offer.changes, offer.removed) == (safe.text, safe.changes, ())
    else:
        assert not safe.is_gsm7
        assert offer.text.strip()
        assert offer.removed and all(ch not in GSM_SAFE_REPLACEMENTS for ch in offer.removed)
        assert offer.removed == analyze(safe.text).offending
        assert offer.text == "".join(ch for ch in safe.text if ch not in offer.removed)
        assert offer.changes == safe.changes + tuple((ch, "") for ch in offer.removed)
