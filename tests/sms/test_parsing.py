"""Tests for roko_app.sms.parsing: reading what farmers type, and the code format."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from roko_app.sms.parsing import (
    KEYSPACE,
    ParsedMessage,
    canonical_code,
    code_number,
    format_code,
    is_canonical,
    parse_message,
)

CODE = "U12345678"

# (text, canonical code)
ACCEPTED_CODES = [
    ("ROKO U12345678", CODE),
    ("roko u12345678", CODE),
    ("Roko U12345678", CODE),
    ("ROKOU12345678", CODE),
    ("rokou12345678", CODE),
    ("ROKO  U12345678", CODE),
    ("ROKO\tU12345678", CODE),
    ("ROKO\nU12345678", CODE),
    ("  ROKO U12345678  ", CODE),
    ("\n\tROKO U12345678\r\n", CODE),
    ("ROKO-U12345678", CODE),
    ("ROKO.U12345678", CODE),
    ("ROKO:U12345678", CODE),
    ("ROKO,U12345678", CODE),
    ("roko - u12345678", CODE),
    ("ROKO : U12345678", CODE),
    ("ROKO\u2013U12345678", CODE),  # en dash from a smartphone keyboard
    ("U12345678", CODE),
    (" u12345678 ", CODE),
    ("ROKO U12345678.", CODE),
    ("ROKO U12345678!", CODE),
    ("ROKO U12345678 !!", CODE),
    ("ROKO U12345678?", CODE),
    ("ROKO\u00a0U12345678", CODE),  # NBSP
    ("ROKO\u202fU12345678\u202f!", CODE),  # narrow NBSP (French typography)
    ("ROKO\u200bU12345678", CODE),  # zero-width space
    ("ＲＯＫＯ　Ｕ１２３４５６７８", CODE),  # full-width forms and ideographic space (NFKC)
    ("ROKO U１２３４５６７８", CODE),
    ("ROKO U 12345678", CODE),  # a space between U and the digits
    ("ROKO U0000000O", "U00000000"),  # O for 0
    ("ROKO UO1234567", "U01234567"),
    ("ROKO Uo1234567", "U01234567"),
    ("ROKO UI2345678", CODE),  # I for 1
    ("ROKO Ul2345678", CODE),  # l for 1
    ("bonjour ROKO U12345678 merci", CODE),  # words around a single code
    ("Bonjour, voici mon code: U12345678. Merci!", CODE),
    ("Une fois ROKO U12345678", CODE),  # a word starting with U is not a candidate
    ("ROKO U12345678 2 sacs", CODE),  # a quantity not after a U is ignored
    ("ROKO U12345678 tel 622123456", CODE),  # so is a phone number
    ("ROKO U12345678 U12345678", CODE),  # the same code twice is not ambiguous
    ("ROKO U12345678\nROKO u12345678", CODE),
    ("STOP U12345678", CODE),  # not an opt-out: a code message
    ("ARRET U12345678", CODE),
    ("START U12345678", CODE),  # an opt-in word beside a code: the code
    ("(U12345678)", CODE),
    ('"U12345678"', CODE),
    ("ROKO U00000000", "U00000000"),
    ("ROKO U99999999", "U99999999"),
]

OPT_OUTS = [
    "STOP",
    "stop",
    "Stop",
    " STOP ",
    "STOP.",
    "stop!",
    "STOP !",
    "ARRET",
    "arret",
    "ARRÊT",
    "arrêt",
    "Arrêt.",
    "ARRE\u0302T",  # decomposed circumflex
    "\u00a0arrêt\u00a0!",
    "DESABONNER",
    "désabonner",
    "DÉSABONNER!",
    "ROKO STOP",  # the keyword in front cannot be misread
    "roko arrêt",
    "\tSTOP\n",
]

UNKNOWN = [
    "",
    "   ",
    "bonjour",
    "ROKO",
    "ROKO U",
    "ROKO U1234567",  # 7 digits
    "ROKO U123456789",  # 9 digits: never cut short to U12345678
    "U123456789",
    "ROKO U1234567890123",
    "ROKO X12345678",  # another letter
    "ROKO V12345678",
    "ROKO 12345678",  # no U
    "12345678",
    "ROKO U1234 5678",  # digits split
    "ROKO U1234-5678",
    "ROKO U12345678.9",  # a digit right after punctuation: malformed
    "ROKO U12345678X",  # glued letter
    "ROKO U12345678ROKO",
    "ROKO XU12345678",  # U glued to another letter on its left
    "ROKO 2U12345678",
    "ROKO U12345678 U87654321",  # two different codes: ambiguous
    "ROKO U12345678 U1234",  # a code beside a malformed candidate: ambiguous
    "ROKO UL2345678",  # upper-case L is not read as 1
    "ROKO Ui2345678",  # nor is lower-case i
    "ROKO UOOOOOOOO",  # confusions only, no real digit: not a code attempt
    "ROKO U٠١٢٣٤٥٦٧",  # Arabic-Indic digits are not read as digits
    "STOP 12345",  # not an opt-out, not a code
    "STOP STOP",
    "STOPPER",
    "ARRETER",
    "please stop",
    "STOP ROKO",
    "ROKO: STOP U",
    "U-12345678",  # only spaces may separate U from its digits
    "STARTER",
    "DEBUTER",
    "START START",
    "START ROKO",
]

OPT_INS = [
    "START",
    "start",
    "Start.",
    " START !",
    "DEBUT",
    "début",
    "DÉBUT",
    "DE\u0301BUT",  # decomposed acute accent
    "\u00a0début\u00a0!",
    "ROKO START",
    "roko début",
    "\tstart\n",
]


@pytest.mark.parametrize(("text", "code"), ACCEPTED_CODES)
def test_accepted_code_forms(text: str, code: str) -> None:
    assert parse_message(text) == ParsedMessage("code", code)


@pytest.mark.parametrize("text", OPT_OUTS)
def test_opt_out_forms(text: str) -> None:
    assert parse_message(text) == ParsedMessage("opt_out", None)


@pytest.mark.parametrize("text", OPT_INS)
def test_opt_in_forms(text: str) -> None:
    assert parse_message(text) == ParsedMessage("opt_in", None)


@pytest.mark.parametrize("text", UNKNOWN)
def test_rejected_forms(text: str) -> None:
    assert parse_message(text) == ParsedMessage("unknown", None)


def test_table_is_large() -> None:
    assert len(ACCEPTED_CODES) + len(OPT_OUTS) + len(UNKNOWN) >= 40


def test_keyword_is_configurable() -> None:
    assert parse_message("NANOU12345678", keyword="NANO") == ParsedMessage("code", CODE)
    assert parse_message("nano stop", keyword="NANO").kind == "opt_out"
    assert parse_message("nano start", keyword="NANO").kind == "opt_in"
    # with another keyword, ROKO glued to the U is just a letter before it
    assert parse_message("ROKOU12345678", keyword="NANO").kind == "unknown"
    assert parse_message("ROKO U12345678", keyword="NANO") == ParsedMessage("code", CODE)
    assert parse_message("U12345678", keyword="") == ParsedMessage("code", CODE)


def test_parsed_message_is_frozen() -> None:
    parsed = parse_message("ROKO U12345678")
    with pytest.raises(AttributeError):
        parsed.code = "U00000000"  # type: ignore[misc]


# --- the property: every form of the accepted grammar gives back the code -----------------

_SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u202f", " \t "])
_OPTIONAL_SPACES = st.one_of(st.just(""), _SPACES)
_CONFUSIONS = {"0": "0Oo", "1": "1Il"}


@st.composite
def _casing(draw: st.DrawFn, word: str) -> str:
    return "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in word)


@st.composite
def _typed_code(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    typed_digits = "".join(draw(st.sampled_from(_CONFUSIONS.get(d, d))) for d in digits)
    u = draw(st.sampled_from("Uu")) + draw(st.sampled_from(["", "", " "]))
    keyword = ""
    if draw(st.booleans()):
        separator = draw(st.sampled_from(["", " ", "-", ".", ":", ",", "\u2013"]))
        keyword = draw(_casing("ROKO"))
        if separator == " ":
            keyword += draw(_SPACES)
        elif separator:
            keyword += draw(_OPTIONAL_SPACES) + separator + draw(_OPTIONAL_SPACES)
    before = draw(st.sampled_from(["", "bonjour ", "Bonjour, ", "svp "]))
    after = draw(st.sampled_from(["", ".", "!", " !", "!!", " merci", ". Merci"]))
    text = (draw(_OPTIONAL_SPACES) + before + keyword + u + typed_digits + after + draw(_OPTIONAL_SPACES))
    return text, "U" + digits


@given(_typed_code())
@example(("ROKOU12345678", CODE))
@example(("roko - u0000000O !", "U00000000"))
def test_any_accepted_form_gives_exactly_the_canonical_code(case: tuple[str, str]) -> None:
    text, code = case
    assert parse_message(text) == ParsedMessage("code", code)


@given(st.text(alphabet="0123456789", min_size=9, max_size=12), st.sampled_from(["ROKO ", "ROKOU", "", "roko-"]))
def test_longer_digit_runs_are_never_cut_short(digits: str, prefix: str) -> None:
    text = prefix + ("" if prefix.endswith("U") else "U") + digits
    assert parse_message(text).kind == "unknown"


@given(st.text())
def test_any_text_parses_without_error(text: str) -> None:
    parsed = parse_message(text)
    assert parsed.kind in ("code", "opt_out", "opt_in", "unknown")
    assert (parsed.code is not None) == (parsed.kind == "code")
    if parsed.code is not None:
        assert is_canonical(parsed.code)


# --- strict form (import files) and helpers ---------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    ("U12345678", CODE),
    ("u12345678", CODE),
    ("  U12345678\t", CODE),
    ("U1234567", None),
    ("U123456789", None),
    ("X12345678", None),
    ("12345678", None),
    ("U 12345678", None),
    ("UO1234567", None),
    ("U１２３４５６７８", None),
    ("", None),
    ("ROKO U12345678", None),
])
def test_canonical_code_is_strict(raw: str, expected: str | None) -> None:
    assert canonical_code(raw) == expected


def test_format_and_number_round_trip() -> None:
    assert format_code(7) == "U00000007"
    assert format_code(KEYSPACE - 1) == "U99999999"
    assert code_number("U00000007") == 7
    with pytest.raises(ValueError):
        format_code(KEYSPACE)
    with pytest.raises(ValueError):
        format_code(-1)
    with pytest.raises(ValueError):
        code_number("u00000007")
    assert is_canonical(CODE) and not is_canonical("u12345678") and not is_canonical(" U12345678")
