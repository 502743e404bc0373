"""``flask --app wsgi roko codes ...``: the code registry (import, generate, stats).

Each command is one transaction. Codes are never printed or logged; only the
``generate --out`` file holds them in clear.
"""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterable
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from roko_app.extensions import db
from roko_app.reads.csv_safety import safe_row
from roko_app.services import code_registry
from roko_app.services.errors import DomainError

# Bad rows listed in a summary; the rest are counted.
SHOWN_ERRORS = 20


@click.group("codes", cls=AppGroup)
def codes() -> None:
    """The code registry: codes printed on bags, stored as keyed hashes."""


@codes.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch", required=True, help="Batch (lot) the codes belong to, e.g. LOT-2026-05.")
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="Text encoding of FILE (Excel's plain 'CSV' in French locales is cp1252).")
def import_command(file: Path, batch: str, encoding: str) -> None:
    """Load the codes of FILE (CSV with a 'code' column) into batch --batch.

    The delimiter (',' or ';') is read from the header line. Other columns are stored
    with each code. Bad rows are listed with their line numbers and skipped; codes
    already registered are left as they are. Exits non-zero only when the file itself
    is unusable. One transaction: nothing is stored if the import fails.
    """
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise click.ClickException(f"Unknown encoding {encoding!r}.") from None
    try:
        with file.open(encoding=encoding, newline="") as stream:
            report = code_registry.import_codes(stream, batch, current_app.config["CODE_KEY"])
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    db.session.commit()
    _echo_report(report, file)


@codes.command("generate")
@click.option("--count", required=True, type=int, help="How many codes to generate.")
@click.option("--batch", required=True, help="Batch (lot) the codes are for.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file to write (header 'code,batch'); must not exist yet.")
@click.option("--import/--no-import", "do_import", default=True, show_default=True,
              help="Also load the codes into the registry (default), or only write the file "
                   "(load it later with 'roko codes import').")
def generate_command(count: int, batch: str, out: Path, do_import: bool) -> None:
    """Generate --count new random codes for --batch into --out, and register them.

    Codes are drawn with a CSPRNG, distinct, and never already in the code_registry. The
    file holds the codes in clear (it is what gets printed on the bags): it is created
    readable by its owner only; store it safely and delete it after printing.
    """
    key = current_app.config["CODE_KEY"]
    if out.exists():
        raise click.ClickException(f"{out} exists already; choose another --out (a code file is never overwritten).")
    try:
        code_registry.check_batch(batch)
        generated = code_registry.generate_codes(count, key)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    partial = out.with_name(out.name + ".partial")
    try:  # O_EXCL: never clobber; 0o600: the codes are in clear
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{partial} exists (left by an interrupted run?): check it, then move it away.") from None
    written: Path = partial
    try:
        _write_codes(fd, generated, batch)
        report = None
        if do_import:
            with partial.open(encoding="utf-8", newline="") as stream:
                report = code_registry.import_codes(stream, batch, key)
        os.replace(partial, out)
        written = out
        db.session.commit()
    except BaseException as exc:
        # Nothing was committed: neither the registry nor the file keeps these codes.
        db.session.rollback()
        written.unlink(missing_ok=True)
        if isinstance(exc, DomainError):
            raise click.ClickException(exc.message) from None
        raise
    click.echo(f"Wrote {count:,} new codes for batch {batch!r} to {out} (readable by you only).")
    click.echo("This file holds the codes in clear: store it safely, share it only with the printer, "
               "and delete it once the bags are printed.")
    if report is not None:
        _echo_report(report, out)
    else:
        click.echo(f"Not registered yet: run 'flask --app wsgi roko codes import {out} --batch {batch}'.")


@codes.command("stats")
def stats_command() -> None:
    """Codes issued and used, per batch."""
    rows = code_registry.batch_stats()
    if not rows:
        click.echo("No codes in the code_registry.")
        return
    width = max(len("batch"), *(len(row.batch) for row in rows))
    click.echo(f"{'batch':<{width}} {'issued':>12} {'used':>12} {'used %':>7}")
    for row in rows:
        click.echo(f"{row.batch:<{width}} {row.issued:>12,} {row.used:>12,} {_percent(row.used, row.issued):>7}")
    issued, used = sum(r.issued for r in rows), sum(r.used for r in rows)
    click.echo(f"{'total':<{width}} {issued:>12,} {used:>12,} {_percent(used, issued):>7}")


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _write_codes(fd: int, generated: Iterable[str], batch: str) -> None:
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "batch"])
        for code in generated:
            writer.writerow(safe_row((code, batch)))


def _echo_report(report: code_registry.ImportReport, file: Path) -> None:
    click.echo(f"Imported {file.name} into batch {report.batch!r}: {report.total_rows:,} rows, "
               f"{report.inserted:,} inserted, {report.already_present:,} already present, "
               f"{report.error_count:,} bad.")
    if report.other_batches:
        listed = ", ".join(f"{name}: {n:,}" for name, n in sorted(report.other_batches.items()))
        click.echo(f"Already present in other batches (left there): {listed}.")
    if report.error_count:
        click.echo("Bad rows (skipped):")
        for error in report.errors[:SHOWN_ERRORS]:
            click.echo(f"  line {error.line}: {error.problem}")
        if report.error_count > SHOWN_ERRORS:
            click.echo(f"  ... and {report.error_count - SHOWN_ERRORS:,} more bad rows.")
