"""Logging in and out of the operator console."""

from roko_app.auth.routes import bp

__all__ = ["bp"]
