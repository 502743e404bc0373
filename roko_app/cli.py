"""``flask --app wsgi roko ...`` commands. Each command is one transaction."""

from __future__ import annotations

import contextlib
import io

import click
from flask import current_app
from flask.cli import AppGroup

from roko_app.extensions import db
from roko_app.services import api_keys
from roko_app.services.errors import DomainError


@click.group(cls=AppGroup)
def roko() -> None:
    """ROKO campaign operations."""


@roko.command("show-config")
def show_config() -> None:
    """Print the non-secret settings this app runs with."""
    config = current_app.config
    click.echo(f"env: {config['ENV']}")
    click.echo(f"database: {_redact_url(config['SQLALCHEMY_DATABASE_URI'])}")
    click.echo(f"inbound ports: {','.join(str(p) for p in sorted(config['INBOUND_PORTS']))}")
    click.echo(f"topaz: {config['TOPAZ_URL']} (send port {config['TOPAZ_SEND_PORT']})")


def _redact_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@roko.group("api-key")
def api_key() -> None:
    """Keys for callers of the internal API (x-api-key)."""


@api_key.command("create")
@click.argument("name")
def api_key_create(name: str) -> None:
    """Issue a key for caller NAME; the key is printed once, as the last line."""
    try:
        row, key = api_keys.create(name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Created API key {row.name!r}. Store it now: it is not shown again.")
    click.echo(key)


@api_key.command("list")
def api_key_list() -> None:
    """List keys (names, prefixes, dates; never the keys)."""
    rows = api_keys.list_keys()
    if not rows:
        click.echo("No API keys.")
        return
    click.echo(f"{'name':<24} {'prefix':<12} {'created (UTC)':<17} {'last used (UTC)':<17} status")
    for row in rows:
        click.echo(f"{row.name:<24} {row.key_prefix + '…':<12} {_when(row.created_at):<17} "
                   f"{_when(row.last_used_at):<17} {'revoked ' + _when(row.revoked_at) if row.revoked else 'active'}")


@api_key.command("revoke")
@click.argument("name")
def api_key_revoke(name: str) -> None:
    """Revoke caller NAME's key (at once, for every process)."""
    try:
        api_keys.revoke(name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Revoked API key {name!r}.")


@roko.group("user")
def user_group() -> None:
    """Console accounts."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer", show_default=True)
@click.option("--password", "ask_password", is_flag=True,
              help="Prompt for the password instead of generating one (printed once).")
def user_create(email: str, role: str, ask_password: bool) -> None:
    """Create a console account; without --password a generated one is printed once."""
    from roko_app.services import accounts

    password = click.prompt("Password", hide_input=True, confirmation_prompt=True) if ask_password else None
    try:
        user, password = accounts.create_user(email, role, password)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    accounts.audit("cli", "user.create", target=user.email, details={"role": role})
    db.session.commit()
    click.echo(f"Created {role} {user.email}.")
    if not ask_password:
        click.echo("Password (shown once):")
        click.echo(password)


# --- commands defined in their own modules -----------------------------------------
from roko_app.cli_codes import codes  # noqa: E402

roko.add_command(codes)
from roko_app.worker import worker_command  # noqa: E402

roko.add_command(worker_command)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"  # type: ignore[attr-defined]


DEMO_CODES = ("U12345678", "U11111111", "U22222222", "U33333333", "U44444444", "U55555555")


@roko.command("dev-seed")
def dev_seed() -> None:
    """Load the demo data `make run` uses (dev only): the demo API key and demo codes."""
    from roko_app.services import codes

    if current_app.config["ENV"] != "dev":
        raise click.ClickException("dev-seed only runs with ROKO_ENV=dev.")
    api_keys.ensure("demo", current_app.config["DEV_DEMO_API_KEY"])
    from roko_app.services import accounts

    for email, role in (("admin@roko.local", "admin"), ("operateur@roko.local", "operator")):
        with contextlib.suppress(DomainError):  # already there
            accounts.create_user(email, role, current_app.config["DEV_DEMO_PASSWORD"])
    stream = io.StringIO("code\n" + "\n".join(DEMO_CODES) + "\n")
    codes.import_codes(stream, "DEMO", current_app.config["CODE_KEY"])
    db.session.commit()
    click.echo(f"Demo data ready: API key 'demo'; console users admin@roko.local and operateur@roko.local; "
               f"codes {', '.join(DEMO_CODES)} (batch DEMO).")
