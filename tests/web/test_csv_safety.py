"""CSV formula injection: every text cell of every export is one a spreadsheet shows, never
one it evaluates (a leading apostrophe on = + - @, tab, CR, after spaces, full-width)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from roko_app.reads.csv_safety import FORMULA_TRIGGERS, safe_cell, safe_row
from tests.factories import make_user
from tests.helpers import log_in, text_in


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"),
    ("+1+1+1+1", "'+1+1+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("\tplain", "'\tplain"),  # tab and CR trigger on their own
    ("\rplain", "'\rplain"),
    ("   =1+1", "'   =1+1"),  # after leading spaces
    ("\u3000+1", "'\u3000+1"),  # after an ideographic space
    ("\n-1", "'\n-1"),
    ("\uff1d1+1", "'\uff1d1+1"),  # full-width = + - @
    ("\uff0b224", "'\uff0b224"),
    ("\uff0d5", "'\uff0d5"),
    ("\uff20A1", "'\uff20A1"),
    ("+224612345678", "'+224612345678"),  # a phone number with its +: text, neutralised (OWASP)
    ("-5", "'-5"),  # a negative-looking text
    ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
])
def test_cells_a_spreadsheet_would_evaluate_get_an_apostrophe(value: str, expected: str) -> None:
    assert safe_cell(value) == expected


@pytest.mark.parametrize("value", [
    "224620000000", "612345678", "U12345678", "ROKO U12345678", "VALID_FIRST", "2026-06-10 12:00:00",
    "", "   ", "a=b", "1+1", "x-1", "mail@roko.test", "'=already quoted", "Merci ! Ça marche ?", "LOT-7",
])
def test_other_text_is_unchanged(value: str) -> None:
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [224620000000, -5, 0, 1.5, None])
def test_numbers_and_empty_cells_are_unchanged(value: Any) -> None:
    assert safe_cell(value) == value


def test_a_row_goes_through_cell_by_cell() -> None:
    assert safe_row((1, "=1", None, "ok")) == [1, "'=1", None, "ok"]


def evaluated(cell: str) -> bool:
    """True if a spreadsheet would take ``cell`` for a formula."""
    return cell.lstrip()[:1] in FORMULA_TRIGGERS or cell[:1] in FORMULA_TRIGGERS


# --- the exports --------------------------------------------------------------------------------

HOSTILE_SENDER = "+1+1+1+1"  # allowed by the inbound sender pattern


def test_entries_export_neutralises_the_phone_and_text_columns(make_app: Any) -> None:
    app = make_app()
    make_user(app, "viewer@roko.test", "viewer")
    text_in(app, "=1+1 ROKO", sender=HOSTILE_SENDER)
    text_in(app, "\uff0bcmd", sender="612345678")
    text_in(app, " @SUM(1)", sender="+224622334455")
    body = log_in(app.test_client(), "viewer@roko.test").get("/console/entries.csv?format=raw").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == 4
    by_text = {row[7]: row for row in rows[1:]}
    assert set(by_text) == {"'=1+1 ROKO", "'\uff0bcmd", "' @SUM(1)"}
    assert by_text["'=1+1 ROKO"][2] == "'" + HOSTILE_SENDER
    assert by_text["'\uff0bcmd"][2] == "612345678"
    assert by_text["' @SUM(1)"][2] == "622334455"  # a Guinea number is stored as 9 digits
    assert not [cell for row in rows for cell in row if evaluated(cell)]


def test_generated_codes_file_holds_no_cell_a_spreadsheet_evaluates(app: Any, runner: Any, tmp_path: Path) -> None:
    out = tmp_path / "codes.csv"
    result = runner.invoke(args=["roko", "codes", "generate", "--count", "50", "--batch", "LOT-9", "--out",
                                 str(out), "--no-import"])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 51 and not [cell for row in rows for cell in row if evaluated(cell)]
    # The batch name cannot start a formula: the one text cell that comes from a person.
    refused = runner.invoke(args=["roko", "codes", "generate", "--count", "1", "--batch", "=cmd", "--out",
                                  str(tmp_path / "x.csv"), "--no-import"])
    assert refused.exit_code != 0 and not (tmp_path / "x.csv").exists()
