"""Tests for roko_app.sms.msisdn: Guinea mobile number normalisation."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roko_app.sms.msisdn import InvalidMsisdn, guinea_msisdn_or_none, normalize_msisdn

ACCEPTED = [
    ("612345678", "612345678"),
    ("224612345678", "612345678"),
    ("+224612345678", "612345678"),
    ("00224612345678", "612345678"),
    ("+224 612 34 56 78", "612345678"),
    ("00224-612.345.678", "612345678"),
    ("(+224) 612 345 678", "612345678"),
    ("+(224)612345678", "612345678"),
    ("00 224 612 34 56 78", "612345678"),
    ("224-612-345-678", "612345678"),
    ("  612345678  ", "612345678"),
    ("612\u00a0345\u00a0678", "612345678"),  # NBSP from a word processor
    ("+224\t612345678\n", "612345678"),
    ("+224\u2013612\u2013345\u2013678", "612345678"),  # en dashes
    ("620000000", "620000000"),
    ("699999999", "699999999"),
    ("+224622445678", "622445678"),  # national part containing 224 is left alone
    ("224 622 24 22 42", "622242242"),
]

REJECTED = [
    ("", "empty"),
    ("   ", "empty"),
    ("-. ()", "empty"),
    ("+", "empty"),
    (" + ", "empty"),
    ("61234567a", "not_digits"),
    ("6123+45678", "not_digits"),
    ("+224+612345678", "not_digits"),
    ("++224612345678", "not_digits"),
    ("612345678+", "not_digits"),
    ("Orange", "not_digits"),
    ("612/345/678", "not_digits"),
    ("６１２３４５６７８", "not_digits"),  # full-width digits
    ("٦١٢٣٤٥٦٧٨", "not_digits"),  # Arabic-Indic digits
    ("+33612345678", "not_guinea"),
    ("0033612345678", "not_guinea"),
    ("+1 555 123 4567", "not_guinea"),
    ("00612345678", "not_guinea"),  # 0061 is Australia
    ("+612345678", "not_guinea"),
    ("+00224612345678", "not_guinea"),
    ("22461234567", "wrong_length"),
    ("2246123456789", "wrong_length"),
    ("6123456789", "wrong_length"),
    ("61234567", "wrong_length"),
    ("0612345678", "wrong_length"),
    ("+224", "wrong_length"),
    ("00224", "wrong_length"),
    ("224", "wrong_length"),
    ("+22", "wrong_length"),
    ("00", "wrong_length"),
    ("+224224612345678", "wrong_length"),  # only one prefix is stripped
    ("00224224612345678", "wrong_length"),
    ("+22461234567", "wrong_length"),
    ("712345678", "not_mobile"),
    ("+224 312 34 56 78", "not_mobile"),
    ("512345678", "not_mobile"),
    ("000000000", "not_guinea"),  # 00 is the international prefix
]


@pytest.mark.parametrize(("raw", "expected"), ACCEPTED)
def test_accepted_forms(raw: str, expected: str) -> None:
    assert normalize_msisdn(raw) == expected
    assert guinea_msisdn_or_none(raw) == expected


@pytest.mark.parametrize(("raw", "problem"), REJECTED)
def test_rejected_forms(raw: str, problem: str) -> None:
    with pytest.raises(InvalidMsisdn) as excinfo:
        normalize_msisdn(raw)
    assert excinfo.value.problem == problem
    assert str(excinfo.value)
    assert guinea_msisdn_or_none(raw) is None


def test_invalid_msisdn_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        normalize_msisdn("abc")


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        ("", ["empty"]),
        ("61234567a", ["not digits", "'a'"]),
        ("22461234567", ["8 digits", "after the country code 224", "9 digits"]),
        ("6123456789", ["10 digits", "9 digits"]),
        ("712345678", ["712345678", "does not start with 6"]),
        ("+33612345678", ["+336", "outside Guinea", "+224"]),
        ("+224", ["0 digits", "after the country code 224"]),
    ],
)
def test_messages_name_the_problem(raw: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidMsisdn) as excinfo:
        normalize_msisdn(raw)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_wrong_length_message_without_country_code_does_not_mention_it() -> None:
    with pytest.raises(InvalidMsisdn, match=r"^Phone number has 10 digits;"):
        normalize_msisdn("6123456789")


PREFIXES = ["", "+224", "00224", "224", "+224 ", "00 224 ", "(+224) ", "+(224)", "224-", "00224."]
SEPARATORS = ["", " ", "-", ".", "\u00a0"]


@given(
    rest=st.text(alphabet="0123456789", min_size=8, max_size=8),
    prefix=st.sampled_from(PREFIXES),
    separators=st.lists(st.sampled_from(SEPARATORS), min_size=8, max_size=8),
    padding=st.sampled_from(["", " ", "  ", "\t"]),
)
def test_round_trip_with_any_prefix_and_separators(rest: str, prefix: str, separators: list[str], padding: str) -> None:
    national = "6" + rest
    formatted = national[0] + "".join(sep + digit for sep, digit in zip(separators, rest, strict=True))
    raw = f"{padding}{prefix}{formatted}{padding}"
    assert normalize_msisdn(raw) == national
    assert guinea_msisdn_or_none(raw) == national


def check_normalised_or_rejected_cleanly(raw: str) -> None:
    try:
        result = normalize_msisdn(raw)
    except InvalidMsisdn as error:
        assert error.problem in {"empty", "not_digits", "not_guinea", "wrong_length", "not_mobile"}
        assert guinea_msisdn_or_none(raw) is None
    else:
        assert re.fullmatch(r"6[0-9]{8}", result)
        assert normalize_msisdn(result) == result  # idempotent
        assert guinea_msisdn_or_none(raw) == result


@given(st.text(max_size=30))
def test_any_text_is_normalised_or_rejected_cleanly(raw: str) -> None:
    check_normalised_or_rejected_cleanly(raw)


@given(st.text(alphabet="0123456789+ -.()", max_size=20))
def test_digit_like_text_is_normalised_or_rejected_cleanly(raw: str) -> None:
    check_normalised_or_rejected_cleanly(raw)
