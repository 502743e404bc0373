#!/usr/bin/env python3
"""Check a ROKO lucky draw bundle (``roko-draw-v1``) with Python's standard library only.

Usage: python verify_draw.py DIR   (DIR holds draw.json, entries.csv, exclusions.csv)

Prints "OK" and exits 0 when every published figure is recomputed from the bundle;
otherwise prints one line saying what does not match and exits 1. This file is an
independent implementation of the algorithm described in VERIFY.md; it does not use
the ROKO application's code.
"""

import csv
import hashlib
import hmac
import io
import json
import sys
from pathlib import Path

ALGORITHM = "roko-draw-v1"
SOURCES = ("drand-quicknet", "drand-mainnet", "manual")


class BundleError(Exception):
    pass


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def read_entries(data):
    """[(entry_id, participant_id)] from the exact bytes of entries.csv."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("entries.csv is not UTF-8") from None
    if text.startswith("\ufeff") or "\r" in text or not text.endswith("\n"):
        raise BundleError("entries.csv must have no BOM, LF line ends and a final LF")
    lines = text[:-1].split("\n")
    if lines[0] != "entry_id,participant_id":
        raise BundleError("entries.csv header must be 'entry_id,participant_id'")
    entries = []
    previous = 0
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split(",")
        if len(fields) != 2 or not all(f.isascii() and f.isdigit() and f == str(int(f)) for f in fields):
            raise BundleError(f"entries.csv line {number} is not 'entry_id,participant_id': {line!r}")
        entry_id, participant_id = int(fields[0]), int(fields[1])
        if entry_id <= previous:
            raise BundleError(f"entries.csv line {number}: entry ids must be ascending and distinct")
        previous = entry_id
        entries.append((entry_id, participant_id))
    return entries


def read_exclusions(data):
    """{participant_id: reason} from exclusions.csv (header 'participant_id,reason')."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    if not rows or rows[0] != ["participant_id", "reason"]:
        raise BundleError("exclusions.csv header must be 'participant_id,reason'")
    excluded = {}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not (row[0].isascii() and row[0].isdigit()):
            raise BundleError(f"exclusions.csv line {number} is not 'participant_id,reason'")
        excluded[int(row[0])] = row[1]
    return excluded


def beacon_hex(beacon):
    """The beacon value the algorithm uses, checked against the published randomness."""
    source = beacon.get("source")
    if source not in SOURCES:
        raise BundleError(f"unknown beacon source {source!r}")
    if source == "manual":
        value = beacon.get("value")
        if not isinstance(value, str):
            raise BundleError("manual beacon has no value")
        expected = sha256_hex(value.encode("utf-8"))
    else:
        try:
            signature = bytes.fromhex(beacon.get("signature") or "")
        except ValueError:
            raise BundleError("drand beacon signature is not hex") from None
        if not signature:
            raise BundleError("drand beacon has no signature")
        if not isinstance(beacon.get("round"), int):
            raise BundleError("drand beacon has no round number")
        expected = sha256_hex(signature)
    if beacon.get("randomness") != expected:
        raise BundleError(f"beacon randomness {beacon.get('randomness')!r} is not {expected}")
    return expected


def compute(entries, seed, draw_id, entries_hash, beacon, places):
    """The first ``places`` distinct participants, as [(entry_id, participant_id)]."""
    message = ("roko-draw-v1|" + draw_id + "|" + entries_hash + "|" + beacon).encode("ascii")
    key = hmac.new(seed, message, hashlib.sha256).digest()
    scored = []
    for entry_id, participant_id in entries:
        digest = hmac.new(key, str(entry_id).encode("ascii"), hashlib.sha256).digest()
        scored.append((int.from_bytes(digest, "big"), entry_id, participant_id))
    scored.sort()
    taken = set()
    picked = []
    for _score, entry_id, participant_id in scored:
        if len(picked) == places:
            break
        if participant_id not in taken:
            taken.add(participant_id)
            picked.append((entry_id, participant_id))
    return picked


def verify(directory):
    """Raise BundleError on the first thing that does not check out."""
    directory = Path(directory)
    try:
        draw = json.loads((directory / "draw.json").read_text(encoding="utf-8"))
        entries_bytes = (directory / "entries.csv").read_bytes()
        exclusions_bytes = (directory / "exclusions.csv").read_bytes()
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the bundle: {exc}") from None
    if not isinstance(draw, dict) or draw.get("algorithm") != ALGORITHM:
        raise BundleError(f"draw.json algorithm must be {ALGORITHM!r}")
    draw_id = draw.get("draw_id")
    if not isinstance(draw_id, str) or not draw_id.isascii():
        raise BundleError("draw.json draw_id must be an ASCII string")

    entries = read_entries(entries_bytes)
    entries_hash = sha256_hex(entries_bytes)
    if draw.get("entries_sha256") != entries_hash:
        raise BundleError(f"entries.csv SHA-256 is {entries_hash}, draw.json says {draw.get('entries_sha256')}")
    if draw.get("entries_count") != len(entries):
        raise BundleError(f"entries.csv has {len(entries)} entries, draw.json says {draw.get('entries_count')}")
    participants = {participant for _entry, participant in entries}
    if draw.get("participants_count") != len(participants):
        raise BundleError(f"entries.csv has {len(participants)} participants, "
                          f"draw.json says {draw.get('participants_count')}")
    excluded = read_exclusions(exclusions_bytes)
    both = sorted(participants.intersection(excluded))
    if both:
        raise BundleError(f"excluded participant {both[0]} has entries in entries.csv")

    seed_hex = draw.get("seed")
    if not seed_hex:
        raise BundleError("draw.json has no seed: the draw has not been run")
    try:
        seed = bytes.fromhex(seed_hex)
    except ValueError:
        raise BundleError("draw.json seed is not hex") from None
    if sha256_hex(seed) != draw.get("commitment"):
        raise BundleError(f"sha256(seed) is {sha256_hex(seed)}, the published commitment is {draw.get('commitment')}")
    beacon = beacon_hex(draw.get("beacon") or {})

    tiers = []
    for position, prize in enumerate(draw.get("prizes") or [], start=1):
        if prize.get("tier") != position or not isinstance(prize.get("count"), int) or prize["count"] < 0:
            raise BundleError("draw.json prizes must be tiers 1, 2, ... with counts")
        tiers.extend([position] * prize["count"])
    alternates = draw.get("alternates") or []
    wanted = draw.get("alternates_wanted")
    if not isinstance(wanted, int) or wanted < 0:
        raise BundleError("draw.json alternates_wanted must be a count")
    places = len(tiers) + wanted
    picked = compute(entries, seed, draw_id, entries_hash, beacon, places)

    expected_winners = [(tier, e, p) for tier, (e, p) in zip(tiers, picked, strict=False)]
    published_winners = [(w.get("tier"), w.get("entry_id"), w.get("participant_id")) for w in draw.get("winners") or []]
    if published_winners != expected_winners:
        raise BundleError(f"winners differ: recomputed (tier, entry, participant) {expected_winners}, "
                          f"published {published_winners}")
    expected_alternates = [(rank, e, p) for rank, (e, p) in enumerate(picked[len(tiers):], start=1)]
    published_alternates = [(a.get("rank"), a.get("entry_id"), a.get("participant_id")) for a in alternates]
    if published_alternates != expected_alternates:
        raise BundleError(f"alternates differ: recomputed (rank, entry, participant) {expected_alternates}, "
                          f"published {published_alternates}")
    return draw


def main(argv):
    if len(argv) != 2:
        print("usage: python verify_draw.py DIR")
        return 1
    try:
        verify(argv[1])
    except BundleError as exc:
        print(f"FAILED: {exc}")
        return 1
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        # a file that is not what the bundle publishes (altered, or not a bundle at all)
        print(f"FAILED: the bundle is not in the published form ({type(exc).__name__}: {exc})")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
