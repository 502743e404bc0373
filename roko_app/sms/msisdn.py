"""Guinea (+224) mobile numbers: normalisation to the 9-digit national form.

A Guinea mobile number is 9 digits starting with ``6`` (e.g. ``612345678``). Operators
and gateways write it in many ways: ``+224 612 34 56 78``, ``00224-612.345.678``,
``224612345678``, ``(+224) 612345678``. :func:`normalize_msisdn` accepts all of them
and returns ``612345678``, or raises :class:`InvalidMsisdn` naming the problem.

Rules, in order:

1. Remove separators: any whitespace (incl. NBSP), ``-`` and other dashes, ``.``,
   ``(`` and ``)``.
2. Nothing left, or only a ``+``: ``empty``.
3. Apart from one leading ``+``, anything other than ASCII digits: ``not_digits``.
4. Strip one country prefix, once: ``+224``, ``00224`` or a bare ``224``. An
   international number with another country code (``+33...``, ``0033...``) is
   ``not_guinea``: it is not ours to rewrite.
5. The rest must be exactly 9 digits (``wrong_length``) starting with 6 (``not_mobile``).

Numbers are not checked against the operators' prefix allocation (60/62/63/65/66
today): every ``6`` + 8 digits is accepted as a possible mobile.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "COUNTRY_CODE",
    "NATIONAL_LENGTH",
    "InvalidMsisdn",
    "MsisdnProblem",
    "guinea_msisdn_or_none",
    "normalize_msisdn",
]

COUNTRY_CODE: Final = "224"
NATIONAL_LENGTH: Final = 9
MOBILE_PREFIX: Final = "6"
EXAMPLE: Final = "612345678"

MsisdnProblem = Literal["empty", "not_digits", "not_guinea", "wrong_length", "not_mobile"]

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_DELETE_SEPARATORS: Final = str.maketrans("", "", _DASHES + ".()")
_DIGITS: Final = frozenset("0123456789")


class InvalidMsisdn(ValueError):
    """The text is not a Guinea mobile number.

    ``problem`` is a short machine code (:data:`MsisdnProblem`); ``str(error)`` is a
    message meant for an operator.
    """

    def __init__(self, problem: MsisdnProblem, message: str) -> None:
        super().__init__(message)
        self.problem: MsisdnProblem = problem


def normalize_msisdn(raw: str) -> str:
    """Return the 9-digit national form (``6XXXXXXXX``) of a Guinea mobile number.

    Raises :class:`InvalidMsisdn` with ``problem`` one of ``empty``, ``not_digits``,
    ``not_guinea``, ``wrong_length``, ``not_mobile``.
    """
    compact = "".join(raw.split()).translate(_DELETE_SEPARATORS)
    has_plus = compact.startswith("+")
    digits = compact[1:] if has_plus else compact
    if not digits:
        raise InvalidMsisdn("empty", f"Phone number is empty: enter a Guinea mobile number such as {EXAMPLE}.")
    if not set(digits) <= _DIGITS:
        bad = "".join(dict.fromkeys(ch for ch in digits if ch not in _DIGITS))
        raise InvalidMsisdn(
            "not_digits",
            f"Phone number contains characters that are not digits ({bad!r}): use digits only,"
            " with an optional leading '+' (spaces, dashes, dots and parentheses are ignored).",
        )
    national, had_country_code = _strip_country_code(digits, has_plus=has_plus)
    if len(national) != NATIONAL_LENGTH:
        where = f" after the country code {COUNTRY_CODE}" if had_country_code else ""
        raise InvalidMsisdn(
            "wrong_length",
            f"Phone number has {len(national)} digit{'s' if len(national) != 1 else ''}{where};"
            f" a Guinea mobile number has {NATIONAL_LENGTH} digits (e.g. {EXAMPLE}).",
        )
    if not national.startswith(MOBILE_PREFIX):
        raise InvalidMsisdn(
            "not_mobile",
            f"Phone number {national} does not start with {MOBILE_PREFIX}:"
            f" Guinea mobile numbers start with {MOBILE_PREFIX} (e.g. {EXAMPLE}).",
        )
    return national


def guinea_msisdn_or_none(raw: str) -> str | None:
    """The normalised Guinea mobile number, or ``None`` if ``raw`` is not one.

    Used for inbound senders: a foreign or alphanumeric sender is kept as received by
    the caller.
    """
    try:
        return normalize_msisdn(raw)
    except InvalidMsisdn:
        return None


def _strip_country_code(digits: str, *, has_plus: bool) -> tuple[str, bool]:
    """Remove one ``224`` / ``00224`` prefix; refuse other international prefixes."""
    if has_plus:
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    elif digits.startswith(COUNTRY_CODE):
        return digits[len(COUNTRY_CODE) :], True
    else:
        return digits, False
    if COUNTRY_CODE.startswith(international):
        return "", True  # a truncated prefix ("+22", "00", "00224"): no national digits
    if not international.startswith(COUNTRY_CODE):
        prefix = "+" if has_plus else "00"
        raise InvalidMsisdn(
            "not_guinea",
            f"Phone number {prefix}{international[:3]}... is an international number outside"
            f" Guinea: only +{COUNTRY_CODE} numbers are accepted.",
        )
    return international[len(COUNTRY_CODE) :], True
