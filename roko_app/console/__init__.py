"""The operator console (server-rendered HTML)."""

from roko_app.console.routes import bp

__all__ = ["bp"]
