"""``flask roko backup --out FILE``: a consistent copy of the SQLite database, taken while
the app and the worker keep writing (SQLite's online backup API). PostgreSQL is backed up
with its own tools (docs/deploy.md)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from roko_app.extensions import db


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write the copy to (created readable by its owner only).")
@click.option("--force", is_flag=True, help="Replace --out if it exists (only once the new copy is complete).")
@with_appcontext
def backup_command(out: Path, force: bool) -> None:
    """Copy the SQLite database to --out, consistently, while the app keeps running.

    The copy is one snapshot (one read transaction: writers are not held up in WAL
    mode), checked with PRAGMA quick_check, and written beside --out first, then moved
    into place, so --out is never a half-written file. An existing --out is refused
    unless --force. On PostgreSQL, use pg_dump (docs/deploy.md).
    """
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise click.ClickException(f"backup copies SQLite databases only; this one is {url.get_backend_name()}: "
                                   "back it up with pg_dump (docs/deploy.md, Backups).")
    if not url.database or url.database == ":memory:":
        raise click.ClickException("backup needs a SQLite file; this database lives in memory.")
    if out.exists() and not force:
        raise click.ClickException(f"{out} exists already; choose another --out, or add --force to replace it.")
    if not out.parent.is_dir():
        raise click.ClickException(f"{out.parent} is not a folder.")
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)  # mode 0o600
    os.close(fd)
    partial = Path(name)
    try:
        pages = _copy(partial)
        if force:
            os.replace(partial, out)
        else:
            os.link(partial, out)  # fails if --out appeared meanwhile: never overwritten without --force
    except FileExistsError:
        raise click.ClickException(f"{out} exists already; choose another --out, or add --force to replace it.") from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"backup failed: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    click.echo(f"backup: {pages} pages ({out.stat().st_size} bytes) of {url.database} copied to {out}")


def _copy(target_path: Path) -> int:
    """Copy the database into ``target_path`` with the backup API, in one step (one
    snapshot), check it, and make it a self-contained file (rollback journal, not WAL).

    The backup API works on the driver's connection, the one place we reach below
    SQLAlchemy: it copies pages, it runs no statement of ours."""
    source = db.engine.raw_connection()
    try:
        target = sqlite3.connect(target_path)
        try:
            source.driver_connection.backup(target)  # pages=-1: everything in one step
            target.execute("PRAGMA journal_mode=DELETE")
            (check,) = target.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy fails its integrity check: {check}")
            (pages,) = target.execute("PRAGMA page_count").fetchone()
        finally:
            target.close()
    finally:
        source.close()
    return int(pages)
