"""Reading and checking JSON request bodies for the JSON blueprints.

``read_json_object`` turns the request body into a dict or raises the documented
errors (413, 415, 400); ``Fields`` checks one field at a time, collects every problem
and raises a single 400 ``VALIDATION_ERROR`` listing them all.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Request

from roko_app.web.errors import ApiError, FieldProblem

INT64_MAX = 2**63 - 1


def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object, within ``max_bytes``."""
    request.max_content_length = max_bytes
    mimetype = request.mimetype
    if mimetype != "application/json" and not (mimetype.startswith("application/") and mimetype.endswith("+json")):
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "The body must be JSON (Content-Type: application/json).")
    raw = request.get_data(cache=True)  # raises 413 past max_content_length
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    return body


def _storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot hold a lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
        # bool is a subclass of int in Python, but not an integer in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
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
        if not _storable(value):
            self.problem(name, "contains a NUL character or an unpaired surrogate")
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
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self.problem(name, "must be an ISO-8601 date-time, e.g. 2026-05-15T10:30:00Z")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
