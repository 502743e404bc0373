"""The ROKO campaign backend: ``create_app`` reads as the checklist of its wiring."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from roko_app.configuration import PROJECT_ROOT, ConfigError, load_config
from roko_app.database.sqlite import init_database_events
from roko_app.extensions import csrf, db, limiter, login_manager, migrate
from roko_app.web.application import Application
from roko_app.web.errors import register_error_handlers
from roko_app.web.i18n import init_i18n
from roko_app.web.metrics import register_metrics
from roko_app.web.rate_limits import limit_only_where_declared
from roko_app.web.request_log import configure_logging, register_request_logging
from roko_app.web.security import (
    CookieSessionInterface,
    configure_cookies,
    register_security_headers,
    trust_proxies,
)
from roko_app.web.validation import refuse_nul_characters

__all__ = ["ConfigError", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Application(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    load_config(app, config)
    trust_proxies(app)
    configure_cookies(app)
    configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)
    limit_only_where_declared(app, limiter)
    register_error_handlers(app)
    refuse_nul_characters(app)
    register_request_logging(app)
    register_metrics(app)
    register_security_headers(app)
    _register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from roko_app import models  # noqa: F401  (registers the models for Alembic)

    init_database_events()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    limiter.init_app(app)
    csrf.init_app(app)
    _init_login(app)
    init_i18n(app)
    _init_gateway(app)


def _init_login(app: Flask) -> None:
    from flask_babel import lazy_gettext

    from roko_app.console.nav import console_nav
    from roko_app.services.accounts import load_user

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please log in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)
    app.jinja_env.globals["console_nav"] = console_nav


def _init_gateway(app: Flask) -> None:
    from roko_app.gateway.topaz import TopazClient

    # One client (one pooled HTTP session) per app; nothing is contacted until a send.
    app.extensions["topaz"] = TopazClient.from_config(app.config)


def _register_blueprints(app: Flask) -> None:
    from roko_app import api, auth, console, public, webhooks
    from roko_app.web import health, i18n

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(api.bp)
    # The JSON APIs authenticate by token, key or signature, never by cookie: no CSRF,
    # and no session cookie read or written.
    csrf.exempt(webhooks.bp)
    csrf.exempt(api.bp)
    app.session_interface = CookieSessionInterface(stateless_prefixes=(api.bp.url_prefix, webhooks.bp.url_prefix))
    app.register_blueprint(auth.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(i18n.bp)
    app.register_blueprint(public.bp)


def _register_cli(app: Flask) -> None:
    from roko_app.cli import roko

    app.cli.add_command(roko)
