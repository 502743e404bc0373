"""``flask roko optimove handshake|send``: register our campaign webhook with Optimove, and
post the callbacks now instead of waiting for the worker (docs/optimove.md)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from roko_app.extensions import db
from roko_app.services import optimove_callbacks

optimove_group = AppGroup("optimove", help="What we tell Optimove: handshake, delivery reports, incoming messages.")


def _client() -> optimove_callbacks.OptimoveClient:
    config = current_app.config
    if not optimove_callbacks.enabled(config):
        raise click.ClickException("OPTIMOVE_BASE_URL is not set (ROKO_OPTIMOVE_BASE_URL).")
    try:
        return optimove_callbacks.client_from_config(config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@optimove_group.command("handshake")
def handshake() -> None:
    """Post our campaign webhook URL and key to Optimove's handshake, and record the outcome."""
    client = _client()
    try:
        callback = optimove_callbacks.queue_handshake(current_app.config)
    except optimove_callbacks.HandshakeNotConfigured as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    counts = optimove_callbacks.send_due(client, only=callback.id)
    client.close()
    db.session.refresh(callback)
    click.echo(f"handshake {callback.state.lower()}: HTTP {callback.last_status or '-'}"
               f"{f' ({callback.last_error})' if callback.last_error else ''}")
    if not counts["sent"]:
        raise click.ClickException("the handshake did not go through; it is recorded (retried by the worker on 429/5xx)")


@optimove_group.command("send")
def send() -> None:
    """Queue the delivery reports Optimove is owed and post every due callback once."""
    client = _client()
    queued = optimove_callbacks.queue_delivery_reports(current_app.config)
    db.session.commit()
    counts = optimove_callbacks.send_due(client, limit=10_000)
    client.close()
    click.echo(f"{queued} report(s) queued; {counts['sent']} sent, {counts['retry']} to retry, {counts['dead']} refused")
