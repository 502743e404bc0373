"""The operator console (server-rendered HTML). One module per page group; each adds
its views to ``bp`` when imported here."""

from roko_app.console import (  # noqa: F401  (each module registers its views)
    account,
    admin,
    callbacks,
    campaigns,
    code_registry,
    compose,
    dashboard,
    draws,
    entries,
    farmers,
    inbox,
    labels,
    messages,
    replies,
)
from roko_app.console.blueprint import bp

__all__ = ["bp"]
