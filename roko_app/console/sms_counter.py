"""Server side of the live SMS counter (static/js/counter.js).

The browser gets the character tables of :mod:`roko_app.sms.encoding` as a JSON data
block, never a retyped copy, and the page is first rendered with the server's own
analysis, so the counter is right before (and without) JavaScript: the same count,
characters left, rewrite offered and template problems the script then shows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from roko_app.sms import encoding
from roko_app.sms.encoding import SegmentInfo, Suggestion, analyze, suggest
from roko_app.sms.templates import TemplateReading, plain_field, read_template

SMS_RULES: dict[str, Any] = {
    "basic": encoding.GSM7_BASIC,
    "extension": encoding.GSM7_EXTENSION,
    "replacements": dict(encoding.GSM_SAFE_REPLACEMENTS),
    "limits": {
        "single_gsm7": encoding.SINGLE_GSM7,
        "single_ucs2": encoding.SINGLE_UCS2,
        "part_gsm7": encoding.PART_GSM7,
        "part_ucs2": encoding.PART_UCS2,
    },
}


# The characters the script (visible() in counter.js) shows by their code point because
# they cannot be seen: JavaScript's \s, format and invisible marks, and combining marks.
_INVISIBLE = re.compile("[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
                        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\ufe00-\ufe0f]")


def visible(ch: str) -> str:
    """``ch`` as the counter shows it: itself, or ``[U+200D]`` when it cannot be seen."""
    if _INVISIBLE.fullmatch(ch) or unicodedata.category(ch).startswith("M"):
        return f"[U+{ord(ch):04X}]"
    return ch


@dataclass(frozen=True, slots=True)
class Counted(SegmentInfo):
    """What the counter shows: the analysis of the text as sent (a template: filled with
    ``fill``), the rewrite worth offering, and how a template's fields read."""

    suggestion: Suggestion | None = None
    template: TemplateReading | None = None

    @property
    def remaining(self) -> int:
        """Characters (septets or UTF-16 units) left before the one-SMS limit."""
        return max(self.limit - self.units, 0)

    @property
    def removed_shown(self) -> str:
        """The characters the suggestion removes, as the counter lists them."""
        return " ".join(visible(ch) for ch in self.suggestion.removed) if self.suggestion else ""

    @property
    def plain_fields(self) -> tuple[str, ...]:
        """The template's formatted fields written plainly (``{chances}``), distinct."""
        fields = self.template.formatted if self.template else ()
        return tuple(dict.fromkeys(plain_field(field) for field in fields))


def measure(text: str, fill: Mapping[str, str] | None = None) -> Counted:
    """``analyze(text)``; with ``fill``, ``text`` is a reply template counted with its
    ``{placeholders}`` filled from ``fill`` (anything wrong is counted as written)."""

    def count(raw: str) -> SegmentInfo:
        return analyze(raw if fill is None else read_template(raw, fill).filled)

    info = count(text)
    return Counted(info.encoding, info.units, info.limit, info.fits, info.segments, info.offending, info.text,
                   suggestion=suggest(text, count),
                   template=None if fill is None else read_template(text, fill))
