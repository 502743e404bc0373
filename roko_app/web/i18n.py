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
    """The browser's choice (the cookie), else the account's, else French."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    return "fr"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "fr")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Africa/Conakry")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(app.root_path + "/translations"))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["get_locale"] = lambda: str(get_locale() or "fr")


@bp.post("/lang/<code>")
def switch_language(code: str) -> Any:
    """The console's language switch (a form, with CSRF): this browser's cookie, and the
    account's language for its other browsers."""
    response = _choose(code, request.form.get("next"))
    if code in LANGUAGES and current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    return response


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    """A plain link (the log-in page, bookmarks): this browser's cookie only, since a GET
    changes nothing stored."""
    return _choose(code, request.args.get("next"))


def _choose(code: str, next_path: str | None) -> Any:
    response = redirect(safe_next(next_path, url_for("console.dashboard")))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
    return response
