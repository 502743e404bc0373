"""CSV cells a spreadsheet will not run: every text cell of every export goes through
:func:`safe_cell` (CSV or formula injection, OWASP's advice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# A spreadsheet reads a cell starting with one of these (or with one after leading
# spaces) as a formula: = + - @, tab and carriage return, and the full-width forms of
# the first four (U+FF1D, U+FF0B, U+FF0D, U+FF20), which some spreadsheets fold.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def safe_cell(value: Any) -> Any:
    """``value`` with a leading apostrophe if it is text a spreadsheet would evaluate
    (``+224612345678`` and ``-5`` included: in an export they are text); anything else,
    numbers included, unchanged."""
    if value.__class__ is not str or not value:
        return value
    first = value[0]
    if first in FORMULA_TRIGGERS or (first.isspace() and value.lstrip()[:1] in FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    """Every cell of ``row`` through :func:`safe_cell`."""
    return [safe_cell(value) for value in row]
