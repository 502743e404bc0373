"""``flask --app wsgi roko ...`` commands."""

from __future__ import annotations

import click
from flask import current_app


@click.group()
def roko() -> None:
    """ROKO campaign operations."""


@roko.command("show-config")
def show_config() -> None:
    """Print the non-secret settings this app runs with."""
    config = current_app.config
    click.echo(f"env: {config['ENV']}")
    click.echo(f"database: {_redact_url(config['SQLALCHEMY_DATABASE_URI'])}")
    click.echo(f"inbound ports: {','.join(str(p) for p in sorted(config['INBOUND_PORTS']))}")


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
