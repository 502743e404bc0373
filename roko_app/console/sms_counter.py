"""Server side of the live SMS counter (static/js/counter.js).

The browser gets the character tables of :mod:`roko_app.sms.encoding` as a JSON data
block, never a retyped copy, and the page is first rendered with the server's own
analysis, so the counter is right before (and without) JavaScript.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from roko_app.sms import encoding
from roko_app.sms.encoding import SegmentInfo, analyze

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


def measure(text: str, fill: Mapping[str, str] | None = None) -> SegmentInfo:
    """``analyze(text)``, with ``{placeholders}`` first filled from ``fill`` when given
    (a template that cannot be filled is measured as written)."""
    if fill is not None:
        with contextlib.suppress(KeyError, ValueError, IndexError, AttributeError, TypeError):
            text = text.format_map(fill)
    return analyze(text)
