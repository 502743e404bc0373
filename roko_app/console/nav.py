"""The console's menu, filtered by the user's role."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_login import current_user

from roko_app.models.accounts import Role

# (endpoint, label, role needed)
MENU = [
    ("console.dashboard", _l("Dashboard"), Role.VIEWER),
]


def console_nav() -> list[tuple[str, str, str]]:
    return [(endpoint, str(label), role) for endpoint, label, role in MENU
            if current_user.is_authenticated and current_user.has_role(role)]
