"""``flask roko user ...``: console accounts. Each command is one transaction."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from roko_app.extensions import db
from roko_app.services import accounts
from roko_app.services.errors import DomainError


@click.group("user", cls=AppGroup)
def user_group() -> None:
    """Console accounts."""


@user_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "operator", "viewer"]), default="viewer", show_default=True)
@click.option("--password", "ask_password", is_flag=True,
              help="Prompt for the password instead of generating one (printed once).")
def user_create(email: str, role: str, ask_password: bool) -> None:
    """Create a console account; without --password a generated one is printed once."""
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


@user_group.command("unlock")
@click.argument("email")
def user_unlock(email: str) -> None:
    """Forget the failed log-ins on an account, as Admin → Users does (for when no admin can log in)."""
    try:
        user = accounts.user_by_email(email)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    forgotten = accounts.unlock(user, accounts.LoginPolicy.from_config(current_app.config))
    accounts.audit("cli", "user.unlock", target=user.email, details={"forgotten_failures": forgotten})
    db.session.commit()
    click.echo(f"Unlocked {user.email}: {forgotten} failed log-ins forgotten.")
