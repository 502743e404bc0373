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
