"""The operator console (server-rendered HTML). One module per page group; each adds
its views to ``bp``."""

from roko_app.console.blueprint import bp
from roko_app.console import dashboard  # noqa: E402,F401  (registers views)

__all__ = ["bp"]
