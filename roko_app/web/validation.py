"""Reading and checking JSON request bodies for the JSON blueprints.

``read_json_object`` turns the request body into a dict or raises the documented
errors (413, 415, 400): the body must be JSON text in UTF-8 (or UTF-16/32), nested at
most ``MAX_DEPTH`` levels, with finite numbers only, and every string in it, keys
included, must be storable text (no NUL, no unpaired surrogate). ``Fields`` checks one
field at a time, collects every problem and raises a single 400 ``VALIDATION_ERROR``
listing them all.
"""

from __future__ import annotations

import json
import math
import re
from collections import deque
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask import Flask, Request, abort, request
from werkzeug.exceptions import RequestEntityTooLarge

from roko_app.web.errors import ApiError, FieldProblem

INT64_MAX = 2**63 - 1
# Far deeper than any body we accept needs (Optimove's is 4 levels), far below the
# interpreter's recursion limit, which the JSON parser and encoder would otherwise hit.
MAX_DEPTH = 32
# The years a timestamp may be written in: whatever its offset, it then lies between
# 1899-12-31 and 9999-01-01 in UTC, far enough inside the datetime range to be shown in
# any time zone (UTC-12 to UTC+14, or a zone's local mean time before 1912).
YEARS = range(1900, 9999)
# At most this many problems are listed in one answer.
MAX_PROBLEMS = 50
UNSTORABLE = "contains a NUL character or an unpaired surrogate"


def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, within ``max_bytes``."""
    request.max_content_length = max_bytes
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON (Content-Type: application/json).")
    body = parse_json(read_body(request, max_bytes))
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    return body


def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, or 413 when it is longer than ``max_bytes``: by its Content-Length,
    or, for a chunked body (no Content-Length), by what arrives. Werkzeug stops reading
    a stream at the limit without a word, so whether more follows is asked here."""
    request.max_content_length = max_bytes
    raw = request.get_data(cache=True)  # 413 when Content-Length says it is too long
    if len(raw) >= max_bytes and request.content_length is None and request.environ["wsgi.input"].read(1):
        raise RequestEntityTooLarge()
    return raw


def parse_json(raw: bytes) -> Any:
    """``raw`` parsed, or a 400: not JSON text (``MALFORMED_JSON``: invalid syntax or
    encoding, ``NaN``/``Infinity``/numbers out of the float range, deeper than
    ``MAX_DEPTH``), or strings that no database column can hold (``VALIDATION_ERROR``
    naming where they are)."""
    try:
        # Strict decoding: json.loads would let UTF-8-encoded surrogates through.
        text = raw.decode(json.detect_encoding(raw))
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite_float)
    except RecursionError:
        raise _too_deep() from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}.") from None
    if isinstance(value, (dict, list)):
        _check_depth(value)
    suspect = _SUSPECT_ESCAPE.search(text) and _may_hold_unstorable(value)
    problems = unstorable_strings(value) if suspect else []
    if problems:
        names = ", ".join(dict.fromkeys(p.field for p in problems[:5]))
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid request: check {names}.", problems)
    return value


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float | int:
    """A number written with a fraction or an exponent. One that is a whole number
    (``26.0``, ``9007199254740993.0``, ``1e3``) becomes that exact int: a float holds
    integers exactly only up to 2**53, and an id above that must not turn into its
    neighbour. Whole numbers of 100 digits or more stay floats (no int that large is
    built; every integer field refuses them anyway)."""
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal[:20]} is out of range")
    exact = Decimal(literal)
    if exact == exact.to_integral_value() and abs(exact) < _HUGE:
        return int(exact)
    return value


_HUGE = Decimal(10) ** 100


def _too_deep() -> ApiError:
    return ApiError(400, "MALFORMED_JSON", f"The body is nested deeper than {MAX_DEPTH} levels.")


def _check_depth(value: dict[str, Any] | list[Any]) -> None:
    """400 ``MALFORMED_JSON`` when ``value`` nests deeper than ``MAX_DEPTH``; level by
    level (a 10,000-recipient batch takes a few milliseconds)."""
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise _too_deep()
        below: list[Any] = []
        for node in level:
            below += [c for c in (node.values() if type(node) is dict else node) if type(c) is dict or type(c) is list]
        level, depth = below, depth + 1


# A string can only hold NUL or a lone surrogate if the JSON text escapes one (the parser
# refuses raw NUL, strict decoding refuses encoded surrogates): a C-speed scan for such
# escapes spares any further look when there is none, as in most bodies; when there is
# (emoji are escaped as surrogate pairs), one more C-speed pass tells whether any string
# is unstorable, and only then are the strings walked to name them.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")


def _may_hold_unstorable(value: Any) -> bool:
    dumped = json.dumps(value, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\\u0000" in dumped  # or an escaped backslash before "u0000": the walk tells


def unstorable_strings(value: Any) -> list[FieldProblem]:
    """Where ``value`` holds strings, keys included, that are not storable text (at most
    ``MAX_PROBLEMS`` of them); [] when there is none. Iterative, any depth."""
    problems: list[FieldProblem] = []
    queue: deque[tuple[Any, str]] = deque([(value, "")])
    while queue and len(problems) < MAX_PROBLEMS:
        node, path = queue.popleft()
        if isinstance(node, str):
            if not storable(node):
                problems.append(FieldProblem(path or "body", UNSTORABLE))
            continue
        if not isinstance(node, (dict, list)):
            continue
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(key, str) and not storable(key):
                problems.append(FieldProblem(_join(path, key), "has a name that " + UNSTORABLE))
            if isinstance(item, (str, dict, list)):
                queue.append((item, _join(path, key)))
    return problems[:MAX_PROBLEMS]


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = printable(key)
    return f"{path}.{name}" if path else name


def printable(text: str, limit: int = 100) -> str:
    """``text`` safe to echo in an answer: NUL, other control characters and lone
    surrogates written as ``\\uXXXX``, cut at ``limit`` characters."""
    text = text[:limit]
    if storable(text) and text.isprintable():
        return text
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else f"\\u{ord(c):04x}" for c in text)


def storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot hold a lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def refuse_nul_characters(app: Flask) -> None:
    """A URL, query string or form field holding a NUL character is a 400 before any view
    runs: no text column of PostgreSQL can hold one, so a view passing it on (a draw's
    name in the path, an e-mail at log-in, a console filter) would fail with a 500
    there. JSON bodies get the same rule from :func:`parse_json`, naming the field."""

    @app.before_request
    def _no_nul() -> None:
        if "\x00" in request.path or "%00" in request.environ.get("QUERY_STRING", ""):
            abort(400)
        if request.mimetype in _FORM_TYPES and any(
            "\x00" in key or "\x00" in value for key, value in request.form.items(multi=True)
        ):
            abort(400)


def row_id(text: str) -> int:
    """A query parameter that names a row (``?sms=12``): a whole number a database id can
    hold, 0 to 2**63 - 1; else ``ValueError``, so ``request.args.get(name, type=row_id)``
    answers None as for any malformed value (a driver would fail on a larger one)."""
    value = int(text)
    if not 0 <= value <= INT64_MAX:
        raise ValueError(f"{text[:20]} is not a row id")
    return value


def integral(value: Any) -> int | None:
    """``value`` as an int when it is a JSON integer, else None. ``26.0`` is one (JSON
    Schema says so; :func:`parse_json` makes it the int 26, exactly); ``true`` is not
    (bool is an int in Python, not in JSON)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and abs(value) >= 1e100:  # a whole number beyond every range
        return int(value)
    return None  # a float below that had a fraction, even one a float cannot hold (26.0000000000000001)


class Fields:
    """Collects field problems; ``raise_if_any`` ends validation with one 400."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.problems: list[FieldProblem] = []

    def problem(self, name: str, problem: str) -> None:
        self.problems.append(FieldProblem(name, problem))

    def raise_if_any(self) -> None:
        if self.problems:
            names = ", ".join(dict.fromkeys(p.field for p in self.problems))
            raise ApiError(400, "VALIDATION_ERROR", f"Invalid request: check {names}.", self.problems)

    def _get(self, name: str, required: bool) -> tuple[bool, Any]:
        if name not in self.body:
            if required:
                self.problem(name, "is required")
            return False, None
        return True, self.body[name]

    def integer(self, name: str, *, minimum: int | None = None, maximum: int = INT64_MAX,
                required: bool = True) -> int | None:
        present, value = self._get(name, required)
        if not present:
            return None
        value = integral(value)
        if value is None:
            self.problem(name, "must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.problem(name, f"must be >= {minimum}")
            return None
        if value > maximum:
            self.problem(name, f"must be <= {maximum}")
            return None
        return value

    def string(self, name: str, *, min_length: int = 0, max_length: int | None = None,
               pattern: re.Pattern[str] | None = None, required: bool = True,
               default: str | None = None) -> str | None:
        present, value = self._get(name, required)
        if not present:
            return default
        if not isinstance(value, str):
            self.problem(name, "must be a string")
            return None
        if len(value) < min_length:
            self.problem(name, "must not be empty" if min_length == 1 else f"must have at least {min_length} characters")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(name, f"must have at most {max_length} characters")
            return None
        if not storable(value):
            self.problem(name, UNSTORABLE)
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.problem(name, f"must match {pattern.pattern}")
            return None
        return value

    def datetime(self, name: str, *, required: bool = True) -> datetime | None:
        """An ISO-8601 date-time; without an offset it is taken as UTC. Returned in UTC."""
        raw = self.string(name, min_length=1, max_length=64, required=required)
        if raw is None:
            return None
        if "T" not in raw.upper() and " " not in raw:
            self.problem(name, "must be an ISO-8601 date-time (a date alone is not enough)")
            return None
        try:
            parsed = datetime.fromisoformat(raw[:-1] + "Z" if raw.endswith("z") else raw)
        except ValueError:
            self.problem(name, "must be an ISO-8601 date-time, e.g. 2026-05-15T10:30:00Z")
            return None
        if parsed.year not in YEARS:  # else 9999-12-31T23:59:59-01:00 would overflow in UTC
            self.problem(name, f"must be in the years {YEARS.start} to {YEARS.stop - 1}")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
