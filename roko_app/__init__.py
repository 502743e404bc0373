"""The ROKO campaign backend: ``create_app`` reads as the checklist of its wiring."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from roko_app.database import init_database_events
from roko_app.errors import register_error_handlers
from roko_app.extensions import db, limiter, migrate
from roko_app.logging_setup import configure_logging, register_request_logging
from roko_app.settings import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(ROOT / "instance"),
    )
    load_config(app, config)
    configure_logging(app)
    _init_extensions(app)
    _register_blueprints(app)
    register_error_handlers(app)
    register_request_logging(app)
    _register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from roko_app import models  # noqa: F401  (registers the models for Alembic)

    init_database_events()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    limiter.init_app(app)
    _init_gateway(app)


def _init_gateway(app: Flask) -> None:
    from roko_app.gateway.topaz import TopazClient

    # One client (one pooled HTTP session) per app; nothing is contacted until a send.
    app.extensions["topaz"] = TopazClient.from_config(app.config)


def _register_blueprints(app: Flask) -> None:
    from roko_app import api, health, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(api.bp)


def _register_cli(app: Flask) -> None:
    from roko_app.cli import roko

    app.cli.add_command(roko)
