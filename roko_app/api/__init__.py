"""The internal JSON API for ops tools and jobs (authenticated by per-caller API keys)."""

from roko_app.api.routes import bp

__all__ = ["bp"]
