"""Console pages. Views are thin: they call one service and render."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from roko_app.auth.decorators import role_required
from roko_app.models.accounts import Role

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.get("/")
@role_required(Role.VIEWER)
def dashboard() -> Any:
    return render_template("console/dashboard.html")
