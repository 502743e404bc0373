"""``flask roko dev-seed``: the demo data ``make run`` uses (dev only)."""

from __future__ import annotations

import contextlib
import io

import click
from flask import current_app
from flask.cli import with_appcontext

from roko_app.extensions import db
from roko_app.services import accounts, api_keys, code_registry
from roko_app.services.errors import DomainError

DEMO_CODES = ("U12345678", "U11111111", "U22222222", "U33333333", "U44444444", "U55555555")


@click.command("dev-seed")
@with_appcontext
def dev_seed() -> None:
    """Load the demo data `make run` uses (dev only): the demo API key and demo codes."""
    if current_app.config["ENV"] != "dev":
        raise click.ClickException("dev-seed only runs with ROKO_ENV=dev.")
    api_keys.ensure("demo", current_app.config["DEV_DEMO_API_KEY"])
    for email, role in (("admin@roko.local", "admin"), ("operateur@roko.local", "operator")):
        with contextlib.suppress(DomainError):  # already there
            accounts.create_user(email, role, current_app.config["DEV_DEMO_PASSWORD"])
    stream = io.StringIO("code\n" + "\n".join(DEMO_CODES) + "\n")
    code_registry.import_codes(stream, "DEMO", current_app.config["CODE_KEY"])
    db.session.commit()
    click.echo(f"Demo data ready: API key 'demo'; console users admin@roko.local and operateur@roko.local; "
               f"codes {', '.join(DEMO_CODES)} (batch DEMO).")
