"""``flask --app wsgi roko draw ...``: the lucky draw's life cycle (create, close, run,
export, claim, forfeit) and the bundle check. Each command is one transaction; a refusal
exits 1 with one line on stderr and changes nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from roko_app.configuration import CAMPAIGN_TZ
from roko_app.extensions import db
from roko_app.services import draws
from roko_app.services.errors import DomainError

ACTOR = "cli"


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    raise click.ClickException(exc.message)


def _moment(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 date-time.", param_hint=option) from None
    return parsed.replace(tzinfo=CAMPAIGN_TZ) if parsed.tzinfo is None else parsed


@click.group("draw", cls=AppGroup)
def draw_group() -> None:
    """Lucky draws anyone can verify (algorithm roko-draw-v1)."""


@draw_group.command("create")
@click.option("--name", required=True)
@click.option("--from", "window_from", required=True, help="Start of the entry window (ISO; naive = Conakry time).")
@click.option("--until", "window_until", required=True, help="End of the window, exclusive.")
@click.option("--prize", "prizes", multiple=True, required=True, help='"NAME:COUNT", tier 1 first; repeat.')
@click.option("--alternates", type=click.IntRange(min=0), required=True)
@click.option("--beacon", default=None, help='drand-quicknet:ROUND, drand-mainnet:ROUND or manual:"DESCRIPTION".')
@click.option("--exclude-previous-winners", is_flag=True)
@click.option("--exclude-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def create_command(name: str, window_from: str, window_until: str, prizes: tuple[str, ...], alternates: int,
                   beacon: str | None, exclude_previous_winners: bool, exclude_file: Path | None) -> None:
    """Create a draw; prints its commitment and, last, its draw_id."""
    start, end = _moment(window_from, "--from"), _moment(window_until, "--until")
    try:
        exclusions = []
        if exclude_file is not None:
            with exclude_file.open(encoding="utf-8-sig", newline="") as stream:
                exclusions = draws.read_exclusions(stream)
        draw = draws.create_draw(name=name, window_from=start, window_until=end,
                                 prizes=[draws.parse_prize(p) for p in prizes], alternates=alternates,
                                 beacon=draws.parse_beacon(beacon), actor=ACTOR,
                                 exclude_previous_winners=exclude_previous_winners, exclusions=exclusions)
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"commitment {draw.commitment}")
    if draw.beacon_round is not None:
        click.echo(f"beacon {draw.beacon_source} round {draw.beacon_round} "
                   f"(published {draw.beacon_planned_at.isoformat() if draw.beacon_planned_at else '?'})")
    else:
        click.echo(f"beacon manual: {draw.beacon_description}")
    click.echo(draw.draw_id)


@draw_group.command("close")
@click.argument("draw_id")
def close_command(draw_id: str) -> None:
    """Freeze the eligible entries; prints, last, entries_sha256."""
    try:
        draw = draws.close_draw(draw_id, actor=ACTOR)
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    if draws.beacon_published_too_early(draw):
        click.echo(f"warning: drand round {draw.beacon_round} came out before this close; the run will refuse it.",
                   err=True)
    click.echo(f"{draw.entries_count} entries from {draw.participants_count} participants")
    click.echo(draw.entries_sha256)


@draw_group.command("run")
@click.argument("draw_id")
@click.option("--beacon-signature", default=None,
              help="The drand round's signature (hex); fetched from ROKO_DRAND_URLS when left out.")
@click.option("--previous-signature", default=None, help="mainnet (chained): the previous round's signature.")
@click.option("--beacon-value", default=None, help="The manual beacon value, exactly as published.")
def run_command(draw_id: str, beacon_signature: str | None, previous_signature: str | None,
                beacon_value: str | None) -> None:
    """Pick the winners and alternates (once) and queue the winners' SMS. A drand draw's
    round is fetched from ROKO_DRAND_URLS unless its signature is given."""
    try:
        if beacon_signature is None and beacon_value is None:
            fetched = draws.fetch_beacon(draw_id, current_app.config["DRAND_URLS"],
                                         float(current_app.config["DRAND_TIMEOUT_SECONDS"]))
            if fetched is not None:
                click.echo(f"fetched from {fetched.url}", err=True)
                beacon_signature, previous_signature = fetched.signature, fetched.previous_signature
        draw = draws.run_draw(draw_id, actor=ACTOR, signature=beacon_signature, previous_signature=previous_signature,
                              value=beacon_value, **_notice_options())
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    record = draws.draw_record(draw)
    click.echo(f"randomness {record['beacon']['randomness']}")
    for winner in record["winners"]:
        click.echo(f"winner tier {winner['tier']}: entry {winner['entry_id']} ({winner['msisdn_masked']})")
    for alternate in record["alternates"]:
        click.echo(f"alternate {alternate['rank']}: entry {alternate['entry_id']} ({alternate['msisdn_masked']})")
    for prize in record["unawarded"]:
        click.echo(f"unawarded: {prize['count']} x {prize['name']} (not enough participants)")


@draw_group.command("export")
@click.argument("draw_id")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
def export_command(draw_id: str, out: Path) -> None:
    """Write the evidence bundle into --out (created if missing; must be empty)."""
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty: export into a new or empty folder.")
    try:
        files = draws.bundle_files(draws.get_draw(draw_id))
    except DomainError as exc:
        _fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)
    click.echo(f"Wrote {', '.join(files)} to {out}")


@draw_group.command("claim")
@click.argument("draw_id")
@click.option("--entry", "entry_id", type=int, required=True)
def claim_command(draw_id: str, entry_id: int) -> None:
    """The winner of --entry got the prize."""
    try:
        pick = draws.claim(draw_id, entry_id, actor=ACTOR)
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"entry {pick.entry_id}: claimed")


@draw_group.command("forfeit")
@click.argument("draw_id")
@click.option("--entry", "entry_id", type=int, required=True)
@click.option("--reason", required=True)
def forfeit_command(draw_id: str, entry_id: int, reason: str) -> None:
    """The prize of --entry is lost; the next alternate is promoted and notified."""
    try:
        successor = draws.forfeit(draw_id, entry_id, reason=reason, actor=ACTOR, **_notice_options())
    except DomainError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(f"entry {entry_id}: forfeited")
    if successor is None:
        click.echo("no alternate left: the prize stays unawarded")
    else:
        click.echo(f"alternate {successor.alternate_rank} (entry {successor.entry_id}) promoted and notified")


@draw_group.command("expire-claims")
def expire_claims_command() -> None:
    """Forfeit the prizes not claimed by their deadline ("délai dépassé") and notify the
    next alternates. Safe to run again (cron, every hour): it only acts on what is due."""
    expired = draws.expire_claims(actor="system", **_notice_options())
    db.session.commit()
    for item in expired:
        successor = (f"alternate entry {item.successor_entry_id} promoted and notified"
                     if item.successor_entry_id is not None else "no alternate left: the prize stays unawarded")
        click.echo(f"{item.draw_id} entry {item.entry_id}: forfeited ({draws.DEADLINE_PASSED}); {successor}")
    click.echo(f"{len(expired)} prize(s) past their claim deadline")


def _notice_options() -> dict[str, int]:
    """Where the WINNER SMS goes out from, and how long a winner has to claim."""
    return {"port": current_app.config["TOPAZ_SEND_PORT"], "claim_days": current_app.config["DRAW_CLAIM_DAYS"]}


@draw_group.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def verify_command(directory: Path) -> None:
    """Check a bundle: recompute the draw, and verify the drand signature offline."""
    try:
        record = _verify_bundle(directory)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a file not in the published form
        raise click.ClickException(f"the bundle is not in the published form ({type(exc).__name__}: {exc})") from None
    beacon = record.get("beacon") or {}
    if beacon.get("source") in draws.drand.NETWORKS:
        network = draws.drand.NETWORKS[beacon["source"]]
        try:
            previous = bytes.fromhex(beacon["previous_signature"]) if beacon.get("previous_signature") else None
            draws.drand.verify(network, int(beacon["round"]), bytes.fromhex(beacon["signature"]), previous)
        except (ValueError, TypeError, KeyError) as exc:
            raise click.ClickException(f"the drand signature does not verify: {exc}") from None
    click.echo("OK")


def _verify_bundle(directory: Path) -> dict:
    """The bundle checked by the published algorithm (the app's own implementation)."""
    from roko_app.draws import algorithm

    try:
        record = json.loads((directory / "draw.json").read_text(encoding="utf-8"))
        entries_bytes = (directory / "entries.csv").read_bytes()
        exclusions = (directory / "exclusions.csv").read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the bundle: {exc}") from None
    if record.get("algorithm") != algorithm.ALGORITHM:
        raise ValueError(f"draw.json algorithm must be {algorithm.ALGORITHM!r}")
    entries = algorithm.parse_entries_csv(entries_bytes)
    entries_hash = algorithm.entries_sha256(entries)
    if entries_hash != record.get("entries_sha256"):
        raise ValueError("entries.csv does not match entries_sha256")
    participants = {p for _e, p in entries}
    if record.get("entries_count") != len(entries) or record.get("participants_count") != len(participants):
        raise ValueError("the entry or participant count does not match entries.csv")
    rows = list(csv.reader(io.StringIO(exclusions, newline="")))  # a quoted reason may hold a line break
    if not rows or ",".join(rows[0]) != algorithm.EXCLUSIONS_HEADER:
        raise ValueError("exclusions.csv header must be 'participant_id,reason'")
    excluded = {int(row[0]) for row in rows[1:] if row}
    if excluded & participants:
        raise ValueError("an excluded participant has entries in entries.csv")
    if not record.get("seed"):
        raise ValueError("draw.json has no seed: the draw has not been run")
    seed = bytes.fromhex(record["seed"])
    if algorithm.commitment(seed) != record.get("commitment"):
        raise ValueError("the seed does not match the commitment")
    beacon = record.get("beacon") or {}
    if beacon.get("source") == draws.MANUAL:
        beacon_hex = algorithm.manual_beacon_hex(beacon.get("value") or "")
    else:
        beacon_hex = draws.drand.randomness(bytes.fromhex(beacon.get("signature") or ""))
    if beacon_hex != beacon.get("randomness"):
        raise ValueError("the beacon randomness does not match its value or signature")
    tiers = [p["tier"] for p in record.get("prizes") or [] for _ in range(p["count"])]
    outcome = algorithm.pick(entries, seed=seed, draw_id=record["draw_id"], entries_hash=entries_hash,
                             beacon_hex=beacon_hex, winners=len(tiers), alternates=int(record["alternates_wanted"]))
    winners = [(t, p.entry_id, p.participant_id) for t, p in zip(tiers, outcome.winners, strict=False)]
    if winners != [(w["tier"], w["entry_id"], w["participant_id"]) for w in record.get("winners") or []]:
        raise ValueError("the published winners do not follow from the algorithm")
    alternates = [(n, p.entry_id, p.participant_id) for n, p in enumerate(outcome.alternates, start=1)]
    if alternates != [(a["rank"], a["entry_id"], a["participant_id"]) for a in record.get("alternates") or []]:
        raise ValueError("the published alternates do not follow from the algorithm")
    return record
