"""The operator console (server-rendered HTML). One module per page group; each adds
its views to ``bp``."""

from roko_app.console import (  # noqa: E402,F401  (registers views)  # noqa: E402,F401  (write pages)
    admin,
    campaigns,  # noqa: E402,F401  (Optimove batches)
    codes,
    compose,
    dashboard,  # noqa: E402,F401  (registers views)
    entries,
    farmers,
    messages,
    replies,
)
from roko_app.console.blueprint import bp

__all__ = ["bp"]
