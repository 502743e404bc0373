"""Saving a reply template reads its placeholders as the console's counter does
(tests/data/placeholder_cases.json): no format spec or conversion, no unknown name, no
lone brace; what is accepted is counted with the same filled text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from roko_app.services import replies
from roko_app.sms.encoding import analyze

DATA = json.loads((Path(__file__).resolve().parent.parent / "data" / "placeholder_cases.json").read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DATA["cases"]


def test_the_shared_cases_fill_with_the_longest_values_of_the_outcome_replies() -> None:
    assert DATA["fill"] == replies.worst_case_of("VALID_AGAIN")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_saving_refuses_what_the_counter_reports(case: dict[str, Any]) -> None:
    text = case["text"]
    if case["broken"]:
        with pytest.raises(replies.BrokenBraces) as caught:
            replies.check_template("VALID_AGAIN", text)
        assert caught.value.braces == tuple(case["broken"])
    elif case["formatted"]:
        with pytest.raises(replies.FormattedPlaceholder) as caught:
            replies.check_template("VALID_AGAIN", text)
        assert caught.value.fields == tuple(case["formatted"])
    elif case["unknown"]:
        with pytest.raises(replies.UnknownPlaceholder) as caught:
            replies.check_template("VALID_AGAIN", text)
        assert caught.value.names == sorted(field[1:-1] for field in case["unknown"])
    else:
        assert replies.check_template("VALID_AGAIN", text) == analyze(case["filled"])


def test_a_format_spec_is_refused_with_the_plain_field_to_write() -> None:
    with pytest.raises(replies.FormattedPlaceholder) as caught:
        replies.check_template("VALID_AGAIN", "Vous avez {chances:0>60} chances, code {code!r} {chances!s}")
    assert caught.value.fields == ("{chances:0>60}", "{code!r}", "{chances!s}")
    assert caught.value.plain == ("{chances}", "{code}")
    assert caught.value.field == "text"


def test_the_winner_notice_reads_its_own_placeholders() -> None:
    with pytest.raises(replies.FormattedPlaceholder):
        replies.check_template(replies.WINNER, "Bravo {prize:>40} avant le {deadline}")
    assert replies.check_template(replies.WINNER, "Bravo {prize} avant le {deadline}").fits


def test_a_stored_template_with_a_format_spec_is_not_used(app: Any) -> None:
    """A row saved before the rule is answered with the built-in default, not padded."""
    with app.app_context():
        text = replies.render("VALID_AGAIN", {"code": "U12345678", "chances": 3},
                              templates={"VALID_AGAIN": "Vous avez {chances:0>60} chances"})
        assert text == replies.DEFAULT_REPLIES["VALID_AGAIN"].format(code="U12345678", chances=3)
        assert replies.render("VALID_AGAIN", {"code": "U12345678", "chances": 3},
                              templates={"VALID_AGAIN": "Vous avez {chances} chances"}) == "Vous avez 3 chances"
