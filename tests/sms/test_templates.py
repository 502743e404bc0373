"""Tests for roko_app.sms.templates: the placeholder syntax of reply templates.

tests/data/placeholder_cases.json feeds this module, the save check
(tests/services/test_reply_placeholders.py) and the console's counter
(tests/browser/test_counter.py), so the page and the server read a template alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from roko_app.sms.templates import TemplateReading, plain_field, read_template

DATA = json.loads((Path(__file__).resolve().parent.parent / "data" / "placeholder_cases.json").read_text(encoding="utf-8"))
FILL: dict[str, str] = DATA["fill"]
CASES: list[dict[str, Any]] = DATA["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_placeholder_cases(case: dict[str, Any]) -> None:
    reading = read_template(case["text"], FILL)
    assert reading == TemplateReading(case["filled"], tuple(case["unknown"]), tuple(case["formatted"]),
                                      tuple(case["broken"]))
    assert reading.ok == (not (case["unknown"] or case["formatted"] or case["broken"]))


def test_placeholder_cases_file_is_well_formed() -> None:
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    for c in CASES:
        assert set(c) == {"name", "text", "filled", "unknown", "formatted", "broken"}, c["name"]
    kinds = {kind for c in CASES for kind in ("unknown", "formatted", "broken") if c[kind]}
    assert kinds == {"unknown", "formatted", "broken"}
    assert any(not (c["unknown"] or c["formatted"] or c["broken"]) for c in CASES)


def test_the_format_spec_of_issue_13_is_refused() -> None:
    """`{chances:0>60}` was filled by str.format_map as 60 characters; it is now a problem."""
    assert "{chances:0>60}".format_map(FILL) == "0" * 55 + "99999"
    reading = read_template("Vos chances : {chances:0>60}", FILL)
    assert reading.formatted == ("{chances:0>60}",) and not reading.ok
    assert reading.filled == "Vos chances : {chances:0>60}"


@pytest.mark.parametrize(("field", "plain"), [
    ("{chances:0>60}", "{chances}"), ("{code!r}", "{code}"), ("{code!r:>9}", "{code}"), ("{code:}", "{code}"),
    ("{x:a!b}", "{x}"),
])
def test_plain_field(field: str, plain: str) -> None:
    assert plain_field(field) == plain


pieces = st.sampled_from(["{", "}", "{{", "}}", "{code}", "{chances}", "{hours}", "{name}", ":", "!", "r", ">5",
                          "a", " ", "é", "0", "[0]", ".x"])


@given(st.lists(pieces, max_size=12).map("".join))
@example("{code!r}")
@example("{{{code}}}")
@example("{a{code}")
def test_an_accepted_template_is_filled_exactly_as_str_format_map_fills_it(text: str) -> None:
    """What read_template accepts, Python's own formatting fills the same way (render()
    and the worker use it); and what Python's formatting refuses, read_template refuses."""
    reading = read_template(text, FILL)
    try:
        formatted = text.format_map(FILL)
    except (KeyError, ValueError, IndexError, AttributeError, TypeError):
        assert not reading.ok
        return
    if reading.ok:
        assert formatted == reading.filled
