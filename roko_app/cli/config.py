"""``flask roko show-config``: the settings in force, without secrets."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url


@click.command("show-config")
@with_appcontext
def show_config() -> None:
    """Print the non-secret settings this app runs with."""
    config = current_app.config
    click.echo(f"env: {config['ENV']}")
    click.echo(f"database: {_redact_url(config['SQLALCHEMY_DATABASE_URI'])}")
    click.echo(f"inbound ports: {','.join(str(p) for p in sorted(config['INBOUND_PORTS']))}")
    click.echo(f"topaz: {config['TOPAZ_URL']} (send port {config['TOPAZ_SEND_PORT']})")


def _redact_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
