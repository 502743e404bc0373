"""The confirmation step of the console's destructive actions (no script: a page).

A destructive action is a POST; its button elsewhere is a link to a GET page that says
what will happen and holds the form that posts it, with a way back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import render_template


def confirm_page(*, title: str, consequences: Sequence[str], action: str, button: str, back: str,
                 fields: Mapping[str, str] | None = None) -> Any:
    """The page asking to confirm posting ``fields`` to ``action``."""
    return render_template("console/confirm.html", title=title, consequences=consequences, action=action,
                           button=button, back=back, fields=fields or {})
