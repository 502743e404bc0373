"""``flask --app wsgi roko ...``: one module per command group; each command is one transaction."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from roko_app.cli.api_keys import api_key_group
from roko_app.cli.backup import backup_command
from roko_app.cli.codes import codes
from roko_app.cli.config import show_config
from roko_app.cli.dev import dev_seed
from roko_app.cli.draws import draw_group
from roko_app.cli.optimove import optimove_group
from roko_app.cli.users import user_group
from roko_app.cli.worker import worker_command


@click.group(cls=AppGroup)
def roko() -> None:
    """ROKO campaign operations."""


for command in (show_config, api_key_group, user_group, codes, worker_command, dev_seed, draw_group,
                backup_command, optimove_group):
    roko.add_command(command)
