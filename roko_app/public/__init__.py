"""The public pages: a draw's published record and the entrant's self-check (no log-in)."""

from roko_app.public.draws import bp

__all__ = ["bp"]
