"""Values typed by people into the console, in the form they are stored in; the
campaign's local days as UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo

from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn
from roko_app.sms.parsing import canonical_code


def msisdn_key(raw: str) -> str:
    """How a number typed by a person is stored: the 9-digit form of a Guinea mobile,
    else the text as typed (stripped), as for a foreign sender."""
    try:
        return normalize_msisdn(raw)
    except InvalidMsisdn:
        return raw.strip()


def is_guinea_mobile(key: str) -> bool:
    """Whether ``key`` (as returned by :func:`msisdn_key`) is a Guinea mobile number."""
    return len(key) == 9 and key.isascii() and key.isdigit() and key.startswith("6")


def code_key(raw: str) -> str:
    """A code typed by a person in its stored form: ``u 1234 5678`` -> ``U12345678``;
    8 digits alone get their ``U``; anything else is kept (upper-cased) and matches nothing."""
    compact = "".join(raw.split())
    if compact.isascii() and compact.isdigit() and len(compact) == 8:
        compact = "U" + compact
    return canonical_code(compact) or compact.upper()


def day_start(day: date, tz: tzinfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character ``\\``) for ``text`` anywhere, lower-cased:
    ``%`` and ``_`` typed by a person are literal."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def phone_part(raw: str | None) -> str | None:
    """The digits of ``raw`` when it is only part of a number (3 to 8 digits; spaces,
    dots, dashes and brackets ignored), else None (empty, a whole number, or not digits)."""
    if not raw or is_guinea_mobile(msisdn_key(raw)):
        return None
    digits = "".join(ch for ch in raw if not ch.isspace() and ch not in ".-()")
    return digits if 3 <= len(digits) <= 8 and digits.isascii() and digits.isdigit() else None
