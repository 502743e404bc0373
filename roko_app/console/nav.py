"""The console's menu, filtered by the user's role (and by what is registered)."""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from roko_app.models.accounts import Role

# (endpoint, label, role needed), in menu order.
MENU = [
    ("console.dashboard", _l("Dashboard"), Role.VIEWER),
    ("console.entries", _l("Entries"), Role.VIEWER),
    ("console.messages", _l("Messages"), Role.VIEWER),
    ("console.inbox", _l("To review"), Role.VIEWER),
    ("console.compose", _l("Send SMS"), Role.OPERATOR),
    ("console.templates", _l("Replies"), Role.OPERATOR),
    ("console.codes", _l("Codes"), Role.OPERATOR),
    ("console.campaigns_list", _l("Campaigns"), Role.VIEWER),
    ("console.optimove_callbacks_list", _l("Optimove"), Role.VIEWER),
    ("console.draws_list", _l("Draws"), Role.VIEWER),
    ("console.users", _l("Users"), Role.ADMIN),
    ("console.api_keys", _l("API keys"), Role.ADMIN),
    ("console.audit", _l("Audit log"), Role.ADMIN),
]


def console_nav() -> list[tuple[str, str, str]]:
    if not current_user.is_authenticated:
        return []
    views = current_app.view_functions
    return [(endpoint, str(label), role) for endpoint, label, role in MENU
            if endpoint in views and current_user.has_role(role)]
