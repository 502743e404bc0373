"""Lucky-draw codes: their format, and reading what farmers type.

A code is ``U`` + exactly 8 digits; its canonical form is upper case (``U12345678``).
Farmers type on feature phones, so :func:`parse_message` is tolerant. The rules, in order:

1. **Normalise.** Unicode NFKC first, so full-width letters and digits (``ＵＬ２３``),
   NBSP, narrow NBSP and the other exotic spaces become their ASCII forms. Invisible
   characters (zero-width spaces and joiners, soft hyphen, BOM) are removed. Digits of
   other scripts (Arabic-Indic ``٠-٩``, ...) are *not* read as digits.
2. **Opt-out.** ``STOP``, ``ARRET``/``ARRÊT`` or ``DESABONNER``/``DÉSABONNER``, in any
   case and with or without accents, *alone* in the message, is an opt-out. Allowed
   around it: spaces, trailing ``.``/``!``, and the campaign keyword in front
   (``ROKO STOP``), which cannot be misread. ``STOP U12345678`` or ``STOP 12345`` is
   not an opt-out. ``START`` or ``DEBUT``/``DÉBUT``, under the same rules, is an
   opt-in (the way back after an opt-out).
3. **Code candidates.** A candidate is a ``U`` (either case) that is not glued to a
   letter or digit on its left, except to the campaign keyword (``ROKOU12345678``),
   then optional spaces or tabs, then a run of digits containing at least one real
   digit. Inside that run ``O``/``o`` are read as ``0`` and ``I``/``l`` as ``1`` (our
   codes are digits only, so these confusions are unambiguous; ``L``, ``i`` and other
   letters are not mapped). Hence any punctuation may separate the keyword from the
   code: ``ROKO-U…``, ``ROKO.U…``, ``ROKO:U…``, ``ROKO, u…``, ``roko - u…``.
4. A candidate is **well formed** when its run has exactly 8 characters and is not
   glued to a letter or digit on its right (``U123456789``, ``U12345678X`` and
   ``U12345678.9`` are malformed, never cut short to ``U12345678``); punctuation after
   it (``.``, ``!``) is fine.
5. **Decision.** The message is a code when it holds one well-formed candidate (or the
   same code repeated) and no malformed one, wherever it stands among other words
   (``bonjour ROKO U12345678 merci``), with or without the keyword. Two different
   codes, or a well-formed code beside a malformed candidate, are ambiguous: unknown.
   Everything else is unknown: wrong digit count, another letter (``X12345678``), a
   code without its ``U`` (``ROKO 12345678``), digits split by spaces (``U1234 5678``).
   Numbers that do not follow a ``U`` (a quantity, a phone number) are ignored.

The registry's import files are machine-made: :func:`canonical_code` accepts only
``U``/``u`` + 8 ASCII digits with surrounding whitespace.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

__all__ = [
    "CODE_DIGITS",
    "CODE_PREFIX",
    "KEYSPACE",
    "OPT_IN_WORDS",
    "OPT_OUT_WORDS",
    "MessageKind",
    "ParsedMessage",
    "canonical_code",
    "code_number",
    "format_code",
    "is_canonical",
    "parse_message",
]

CODE_PREFIX: Final = "U"
CODE_DIGITS: Final = 8
KEYSPACE: Final = 10**CODE_DIGITS
# Compared after removing accents and upper-casing.
OPT_OUT_WORDS: Final = frozenset({"STOP", "ARRET", "DESABONNER"})
OPT_IN_WORDS: Final = frozenset({"START", "DEBUT"})

MessageKind = Literal["code", "opt_out", "opt_in", "unknown"]

_CANONICAL: Final = re.compile(r"U[0-9]{8}", re.ASCII)
_STRICT: Final = re.compile(r"[Uu]([0-9]{8})", re.ASCII)
_INVISIBLE: Final = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_CONFUSIONS: Final = str.maketrans("OoIl", "0011")
_TRAILING_PUNCTUATION: Final = ".!"
_ASCII_DIGITS: Final = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What an SMS says: a code (``code`` is canonical), an opt-out or opt-in, or nothing we know."""

    kind: MessageKind
    code: str | None = None


_UNKNOWN: Final = ParsedMessage("unknown")
_OPT_OUT: Final = ParsedMessage("opt_out")
_OPT_IN: Final = ParsedMessage("opt_in")


def parse_message(text: str, keyword: str = "ROKO") -> ParsedMessage:
    """Classify ``text`` as typed by a farmer (see the module docstring for the grammar)."""
    normalized = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    word = _lone_word(normalized, keyword)
    if word in OPT_OUT_WORDS:
        return _OPT_OUT
    if word in OPT_IN_WORDS:
        return _OPT_IN
    codes: set[str] = set()
    for match in _candidate_pattern(keyword).finditer(normalized):
        run = match["run"]
        if not any(ch in _ASCII_DIGITS for ch in run):
            continue  # "Une", "U OK": a word starting with U, not an attempt at a code
        if len(run) != CODE_DIGITS or match["glued"]:
            return _UNKNOWN  # malformed: wrong length, or more letters/digits stuck to it
        codes.add(CODE_PREFIX + run.translate(_CONFUSIONS))
    if len(codes) != 1:
        return _UNKNOWN  # no code, or two different codes (ambiguous)
    return ParsedMessage("code", codes.pop())


@lru_cache(maxsize=8)
def _candidate_pattern(keyword: str) -> re.Pattern[str]:
    glued_keyword = f"(?i:{re.escape(keyword)})?" if keyword else ""
    return re.compile(
        r"(?<![^\W_])"  # not glued on the left to a letter or digit ...
        + glued_keyword  # ... unless that is the keyword (ROKOU12345678)
        + r"[Uu][ \t]*"
        + r"(?P<run>[0-9OoIl]*)"
        # a letter or digit stuck on the right, or a digit right after one punctuation mark
        # (U12345678.9): malformed, never cut short
        + r"(?P<glued>[^\W_]|(?:[^\w\s]|_)[0-9])?"
    )


def _lone_word(normalized: str, keyword: str) -> str | None:
    """The message's only word, folded (keyword in front allowed), else None."""
    words = normalized.strip().rstrip(_TRAILING_PUNCTUATION + " \t\r\n").split()
    if len(words) == 2 and keyword and words[0].casefold() == keyword.casefold():
        words = words[1:]
    return _fold(words[0]) if len(words) == 1 else None


def _fold(word: str) -> str:
    """Upper case without accents: ``Arrêt`` -> ``ARRET``."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def canonical_code(raw: str) -> str | None:
    """The canonical form of a code written strictly (import files), else None.

    Accepted: optional surrounding whitespace, ``U`` or ``u``, exactly 8 ASCII digits.
    """
    match = _STRICT.fullmatch(raw.strip())
    return CODE_PREFIX + match[1] if match else None


def is_canonical(code: str) -> bool:
    return _CANONICAL.fullmatch(code) is not None


def format_code(number: int) -> str:
    """The code for ``number`` in ``0 .. KEYSPACE - 1``: ``7`` -> ``U00000007``."""
    if not 0 <= number < KEYSPACE:
        raise ValueError(f"code number out of range: {number}")
    return f"{CODE_PREFIX}{number:0{CODE_DIGITS}d}"


def code_number(code: str) -> int:
    """The number of a canonical code: ``U00000007`` -> ``7``."""
    if not is_canonical(code):
        raise ValueError("not a canonical code (U + 8 digits)")
    return int(code[1:])
