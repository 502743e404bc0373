"""Domain errors raised by services; views map them to responses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A use case cannot be carried out; ``code`` is the stable machine-readable name.

    ``message`` is an English sentence for logs, the CLI and the JSON API; ``problem``
    (a finer code, ``code`` by default) and ``params`` are what the console turns into
    its own words (console/labels.py), so nothing matches on the sentence."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str, *, problem: str | None = None, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.problem = problem or self.code
        self.params = params


class PortNotAllowed(DomainError):
    code = "PORT_NOT_ALLOWED"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class InvalidInput(DomainError):
    """A value a person typed is not acceptable; ``field`` names it."""

    code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str, *, problem: str | None = None, **params: Any) -> None:
        super().__init__(message, problem=problem, **params)
        self.field = field
