"""``flask roko api-key ...``: keys for callers of the internal API. Each command is one transaction."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from roko_app.extensions import db
from roko_app.services import api_keys
from roko_app.services.errors import DomainError


@click.group("api-key", cls=AppGroup)
def api_key_group() -> None:
    """Keys for callers of the internal API (x-api-key)."""


@api_key_group.command("create")
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


@api_key_group.command("list")
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


@api_key_group.command("revoke")
@click.argument("name")
def api_key_revoke(name: str) -> None:
    """Revoke caller NAME's key (at once, for every process)."""
    try:
        api_keys.revoke(name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"Revoked API key {name!r}.")


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"  # type: ignore[attr-defined]
