"""French by default, English on request; dates shown in Africa/Conakry time."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, request, url_for
from flask_babel import get_locale
from flask_login import current_user

from roko_app.extensions import babel, db
from roko_app.web.security import safe_next

LANGUAGES = {"fr": "Français", "en": "English"}
COOKIE = "roko_lang"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    chosen = request.cookies.get(COOKIE)
    return chosen if chosen in LANGUAGES else "fr"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "fr")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Africa/Conakry")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["get_locale"] = lambda: str(get_locale() or "fr")


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    destination = safe_next(request.args.get("next"), url_for("console.dashboard"))
    response = redirect(destination)
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return response
