"""GSM 03.38 / UCS-2 rules: the single source of truth for "does this fit one SMS".

Rules (3GPP TS 23.038 / 23.040; team reference "sms-platforms-and-gsm7" §3):

* The text is NFC-normalised first: ``e`` + U+0301 becomes ``é``, which is GSM-7.
* If every character is in the GSM-7 basic set (1 septet each) or in the extension
  table (``\\f ^ { } \\ [ ~ ] | €``, 2 septets each: ESC + code), the message is
  **GSM-7**: limit 160 septets for one SMS, 153 septets per part when concatenated.
* Otherwise the whole message is **UCS-2** (really UTF-16 on the wire): every
  character costs its number of UTF-16 code units, so an emoji (surrogate pair)
  costs 2 and an extension character costs 1. Limit 70 units, 67 per part.
* When concatenated, an escape pair (ESC + char) and a surrogate pair are never split
  across two parts, so parts are packed greedily (this is what operators bill).

Characters are handled per code point, as Python ``str`` and JavaScript ``for...of``
iterate them. A lone surrogate (only possible from broken input) costs 1 unit.

All tables are plain module constants (strings and a ``dict``) so that the console's
JavaScript counter can mirror them from a JSON dump. Do not mutate them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "GSM7",
    "GSM7_BASIC",
    "GSM7_BASIC_SET",
    "GSM7_CHARSET",
    "GSM7_EXTENSION",
    "GSM7_EXTENSION_SET",
    "GSM_SAFE_REPLACEMENTS",
    "PART_GSM7",
    "PART_UCS2",
    "SINGLE_GSM7",
    "SINGLE_UCS2",
    "UCS2",
    "Encoding",
    "SafeSuggestion",
    "SegmentInfo",
    "Suggestion",
    "analyze",
    "gsm_safe",
    "suggest",
]

Encoding = Literal["GSM-7", "UCS-2"]
GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

#: One SMS: 140 octets of user data = 160 septets or 70 UCS-2 code units.
SINGLE_GSM7: Final = 160
SINGLE_UCS2: Final = 70
#: One part of a concatenated SMS (a 6-octet UDH is taken from the 140 octets).
PART_GSM7: Final = 153
PART_UCS2: Final = 67

#: GSM 03.38 default alphabet, in code order 0x00..0x7F, without ESC (0x1B): 127 chars.
#: 0x09 is the capital ``Ç``; the lowercase ``ç`` is NOT in GSM-7.
GSM7_BASIC: Final[str] = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00-0x0F
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x10-0x1F (0x1B ESC left out)
    " !\"#¤%&'()*+,-./"  # 0x20-0x2F
    "0123456789:;<=>?"  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO"  # 0x40-0x4F
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50-0x5F
    "¿abcdefghijklmno"  # 0x60-0x6F
    "pqrstuvwxyzäöñüà"  # 0x70-0x7F
)
#: Extension table: each costs 2 septets (ESC + code) under GSM-7, 1 unit under UCS-2.
GSM7_EXTENSION: Final[str] = "\f^{}\\[~]|€"

GSM7_BASIC_SET: Final[frozenset[str]] = frozenset(GSM7_BASIC)
GSM7_EXTENSION_SET: Final[frozenset[str]] = frozenset(GSM7_EXTENSION)
GSM7_CHARSET: Final[frozenset[str]] = GSM7_BASIC_SET | GSM7_EXTENSION_SET

_APOSTROPHE = "'"
_QUOTE = '"'

#: Suggested replacements that turn common French / word-processor characters into
#: GSM-7. Keys are single non-GSM characters (NFC-stable); values are GSM-7 basic
#: strings ("" = remove). Accented letters that already are GSM-7 (é è à ù ì ò É Ç ...)
#: are deliberately absent: replacing them would lose information for nothing.
GSM_SAFE_REPLACEMENTS: Final[dict[str, str]] = {
    # cedilla (capital Ç is GSM-7, lowercase is not)
    "ç": "c",
    # circumflex
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "Â": "A",
    "Ê": "E",
    "Î": "I",
    "Ô": "O",
    "Û": "U",
    # diaeresis (ä ö ü Ä Ö Ü are GSM-7)
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "Ë": "E",
    "Ï": "I",
    "Ÿ": "Y",
    # grave / acute not in GSM-7 (é è à ù ì ò É are)
    "À": "A",
    "È": "E",
    "Ù": "U",
    "Á": "A",
    "Í": "I",
    "Ó": "O",
    "Ú": "U",
    "Ì": "I",  # GSM-7 has the lowercase ì and ò only
    "Ò": "O",
    "á": "a",
    "í": "i",
    "ó": "o",
    "ú": "u",
    # ligatures (the typographic fi/fl ones come from word processors and PDFs)
    "œ": "oe",
    "Œ": "OE",
    "\ufb00": "ff",  # ﬀ
    "\ufb01": "fi",  # ﬁ
    "\ufb02": "fl",  # ﬂ
    "\ufb03": "ffi",  # ﬃ
    "\ufb04": "ffl",  # ﬄ
    # apostrophes and single quotes
    "\u2019": _APOSTROPHE,  # ’ right single quotation mark (French apostrophe)
    "\u2018": _APOSTROPHE,  # ‘
    "\u201b": _APOSTROPHE,  # ‛
    "\u00b4": _APOSTROPHE,  # ´ acute accent
    "\u02bc": _APOSTROPHE,  # ʼ modifier letter apostrophe
    "\u0060": _APOSTROPHE,  # ` grave accent (backtick)
    "\u201a": _APOSTROPHE,  # ‚ single low-9 quotation mark
    "\u2039": _APOSTROPHE,  # ‹ single guillemets, as « » become "
    "\u203a": _APOSTROPHE,  # ›
    # double quotes and guillemets
    "\u201c": _QUOTE,  # “
    "\u201d": _QUOTE,  # ”
    "\u201e": _QUOTE,  # „
    "\u201f": _QUOTE,  # ‟
    "\u00ab": _QUOTE,  # «
    "\u00bb": _QUOTE,  # »
    # ellipsis
    "\u2026": "...",  # …
    # dashes and hyphens
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\u2022": "-",  # • bullet
    # spaces -> one ordinary space (en quad / em quad become en / em space under NFC)
    "\t": " ",
    "\u00a0": " ",  # no-break space (French typography before ; : ! ?)
    "\u202f": " ",  # narrow no-break space (same, and inside « »)
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",  # three-per-em space
    "\u2005": " ",  # four-per-em space
    "\u2006": " ",  # six-per-em space
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u205f": " ",  # medium mathematical space
    "\u3000": " ",  # ideographic space
    # line and paragraph separators (pasted from word processors) -> a new line
    "\u2028": "\n",
    "\u2029": "\n",
    # invisible characters -> removed (ZWJ is kept: emoji sequences need it)
    "\u200b": "",  # zero-width space
    "\u200c": "",  # zero-width non-joiner
    "\u200e": "",  # left-to-right mark
    "\u200f": "",  # right-to-left mark
    "\u2060": "",  # word joiner
    "\ufeff": "",  # byte order mark / zero-width no-break space
    "\u00ad": "",  # soft hyphen
    # degree sign and ordinal indicators: "n°"/"nº" -> "no", "25°C" -> "25oC", "1ª" -> "1a"
    "\u00b0": "o",
    "\u00ba": "o",  # º
    "\u00aa": "a",  # ª
    # inclusive writing: "agriculteur·rice·s" -> "agriculteur.rice.s"
    "\u00b7": ".",
    # fractions, superscripts and signs, written out the way a keyboard would
    "\u00bc": "1/4",  # ¼
    "\u00bd": "1/2",  # ½
    "\u00be": "3/4",  # ¾
    "\u00b9": "1",  # ¹
    "\u00b2": "2",  # ² (m² -> m2)
    "\u00b3": "3",  # ³
    "\u00d7": "x",  # ×
    "\u00f7": "/",  # ÷
    "\u2030": "o/oo",  # ‰ per mille
    "\u00b5": "u",  # µ micro sign: the usual ASCII spelling of units (ug, uF)
    "\u00a9": "(c)",  # ©
    "\u00ae": "(R)",  # ®
    "\u2122": "TM",  # ™
}

_REPLACEABLE: Final[frozenset[str]] = frozenset(GSM_SAFE_REPLACEMENTS)
_TRANSLATION: Final = str.maketrans(GSM_SAFE_REPLACEMENTS)


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """How a text would be sent.

    ``text`` is the NFC-normalised text actually measured (and the one to send).
    ``units`` are septets under GSM-7, UTF-16 code units under UCS-2.
    ``segments`` is 0 for the empty text, 1 when it fits one SMS, else the number of
    concatenated parts. ``offending`` lists the distinct characters (code points, in
    order of first appearance) that forced UCS-2; it is empty under GSM-7.
    """

    encoding: Encoding
    units: int
    limit: int
    fits: bool
    segments: int
    offending: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class SafeSuggestion:
    """A GSM-7 friendly rewrite of a text, offered to the operator (never applied silently).

    ``changes`` holds distinct ``(original_char, replacement)`` pairs in order of first
    appearance; ``is_gsm7`` is true when the suggested ``text`` is entirely GSM-7.
    """

    text: str
    changes: tuple[tuple[str, str], ...]
    is_gsm7: bool


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What the counter offers for a UCS-2 text (never applied silently).

    ``action`` is ``"replace"`` when the GSM-7 replacements alone make the text GSM-7,
    ``"remove"`` when, after them, only characters with no GSM-7 form (emoji, other
    scripts: ``removed``, distinct, in order) still force UCS-2. ``text`` is the text
    once the action is applied; ``changes`` holds the replacements as :func:`gsm_safe`
    reports them, then ``(char, "")`` for each removed character.
    """

    action: Literal["replace", "remove"]
    text: str
    changes: tuple[tuple[str, str], ...]
    removed: tuple[str, ...]


def analyze(text: str) -> SegmentInfo:
    """Measure ``text`` (NFC-normalised first) against the one-SMS limits.

    The empty text is GSM-7, 0 units, ``fits=True`` and **0 segments**: nothing would be
    sent or billed. Callers that require a message body must reject it themselves.
    """
    text = unicodedata.normalize("NFC", text)
    chars = set(text)
    if chars <= GSM7_CHARSET:
        extension = chars & GSM7_EXTENSION_SET
        units = len(text) + sum(text.count(ch) for ch in extension)
        return SegmentInfo(
            encoding=GSM7,
            units=units,
            limit=SINGLE_GSM7,
            fits=units <= SINGLE_GSM7,
            segments=_gsm7_segments(text, units, has_extension=bool(extension)),
            offending=(),
            text=text,
        )
    units = _utf16_units(text)
    offending = tuple(sorted(chars - GSM7_CHARSET, key=text.index))
    return SegmentInfo(
        encoding=UCS2,
        units=units,
        limit=SINGLE_UCS2,
        fits=units <= SINGLE_UCS2,
        segments=_ucs2_segments(text, units, has_pairs=units != len(text)),
        offending=offending,
        text=text,
    )


def gsm_safe(text: str) -> SafeSuggestion:
    """Suggest a GSM-7 rewrite of ``text`` using :data:`GSM_SAFE_REPLACEMENTS`.

    The result is NFC-normalised. A text that is already GSM-7 comes back as its NFC
    form with no changes. Characters without a replacement (emoji, other scripts) are
    kept, and ``is_gsm7`` is then false.
    """
    current = unicodedata.normalize("NFC", text)
    changes: dict[str, str] = {}
    # A replacement can, through NFC, compose with a following combining mark into a
    # new replaceable character ("°" + U+0302 -> "o" + U+0302 -> "ô"). Each extra pass
    # consumes a combining mark, so the loop ends.
    while found := set(current) & _REPLACEABLE:
        for ch in sorted(found, key=current.index):
            changes.setdefault(ch, GSM_SAFE_REPLACEMENTS[ch])
        current = unicodedata.normalize("NFC", current.translate(_TRANSLATION))
    return SafeSuggestion(
        text=current,
        changes=tuple(changes.items()),
        is_gsm7=set(current) <= GSM7_CHARSET,
    )


def suggest(text: str, measure: Callable[[str], SegmentInfo] = analyze) -> Suggestion | None:
    """The rewrite to offer for ``text``, or None when none helps.

    A rewrite is offered only when it makes the text GSM-7 without costing more SMS than
    the text as written (``…`` becomes ``...``: a long text could need one more).
    ``measure`` measures a text (``analyze``, or the console's measure of a template with
    its placeholders filled); the rewrite itself is applied to ``text`` as written.
    A rewrite that would leave nothing but spaces is not offered.
    """
    before = measure(text)
    if before.encoding == GSM7:
        return None
    safe = gsm_safe(text)
    if safe.is_gsm7:
        offer = Suggestion("replace", safe.text, safe.changes, ())
    else:
        removed = analyze(safe.text).offending
        kept = "".join(ch for ch in safe.text if ch not in removed)
        if not kept.strip():
            return None
        offer = Suggestion("remove", kept, safe.changes + tuple((ch, "") for ch in removed), removed)
    after = measure(offer.text)
    if after.encoding != GSM7 or after.segments > before.segments:
        return None
    return offer


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _gsm7_segments(text: str, units: int, *, has_extension: bool) -> int:
    if units == 0:
        return 0
    if units <= SINGLE_GSM7:
        return 1
    if not has_extension:
        return _ceil_div(units, PART_GSM7)
    return _pack(text, PART_GSM7, GSM7_EXTENSION_SET.__contains__)


def _ucs2_segments(text: str, units: int, *, has_pairs: bool) -> int:
    if units <= SINGLE_UCS2:
        return 1  # a UCS-2 text is never empty
    if not has_pairs:
        return _ceil_div(units, PART_UCS2)
    return _pack(text, PART_UCS2, _is_astral)


def _is_astral(ch: str) -> bool:
    return ord(ch) > 0xFFFF


def _pack(text: str, capacity: int, is_double: Callable[[str], bool]) -> int:
    """Greedily pack characters costing 1 or 2 (``is_double``) into parts of ``capacity``.

    Greedy packing is optimal for an ordered sequence, and never splits a 2-unit item.
    """
    parts, used = 1, 0
    for ch in text:
        cost = 2 if is_double(ch) else 1
        if used + cost > capacity:
            parts += 1
            used = cost
        else:
            used += cost
    return parts
