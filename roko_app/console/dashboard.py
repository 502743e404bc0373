"""The dashboard."""

from __future__ import annotations

from typing import Any

from flask import render_template

from roko_app.auth.decorators import role_required
from roko_app.console.blueprint import bp
from roko_app.models.accounts import Role


@bp.get("/")
@role_required(Role.VIEWER)
def dashboard() -> Any:
    return render_template("console/dashboard.html")
