"""Domain errors raised by services; views map them to responses."""

from __future__ import annotations


class DomainError(Exception):
    """A use case cannot be carried out; ``code`` is the stable machine-readable name."""

    code = "DOMAIN_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PortNotAllowed(DomainError):
    code = "PORT_NOT_ALLOWED"


class NotFound(DomainError):
    code = "NOT_FOUND"


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"


class InvalidInput(DomainError):
    """A value a person typed is not acceptable; ``field`` names it."""

    code = "VALIDATION_ERROR"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
