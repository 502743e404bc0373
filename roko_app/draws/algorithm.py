"""``roko-draw-v1``: the entry list's bytes and hash, the seed's commitment, the beacon
value, and the ranked pick of winners and alternates (the README's "Lucky draws", and VERIFY.md in every bundle)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

ALGORITHM = "roko-draw-v1"
ENTRIES_HEADER = "entry_id,participant_id"
_ENTRY_LINE = re.compile(rb"([0-9]+),([0-9]+)\n")
EXCLUSIONS_HEADER = "participant_id,reason"


@dataclass(frozen=True, slots=True)
class Pick:
    """One taken participant: ``rank`` counts from 1 over winners then alternates."""

    rank: int
    entry_id: int
    participant_id: int


@dataclass(frozen=True, slots=True)
class DrawResult:
    """The participants the algorithm took: winners in tier order, then ranked alternates."""

    winners: tuple[Pick, ...]
    alternates: tuple[Pick, ...]


def commitment(seed: bytes) -> str:
    """The published commitment to the seed: ``sha256(seed)``, lowercase hex."""
    return hashlib.sha256(seed).hexdigest()


def entries_csv_lines(entries: Iterable[tuple[int, int]]) -> Iterable[bytes]:
    """The bytes of ``entries.csv`` in pieces; ``entries`` must be sorted by entry id."""
    yield (ENTRIES_HEADER + "\n").encode("ascii")
    previous = None
    for entry_id, participant_id in entries:
        if previous is not None and entry_id <= previous:
            raise ValueError("entries must be sorted by entry_id, without repeats")
        previous = entry_id
        yield f"{int(entry_id)},{int(participant_id)}\n".encode("ascii")


def entries_csv(entries: Iterable[tuple[int, int]]) -> bytes:
    return b"".join(entries_csv_lines(entries))


def entries_sha256(entries: Iterable[tuple[int, int]]) -> str:
    digest = hashlib.sha256()
    for piece in entries_csv_lines(entries):
        digest.update(piece)
    return digest.hexdigest()


def parse_entries_csv(data: bytes) -> list[tuple[int, int]]:
    """The entries of an ``entries.csv``; refuses anything that is not its exact form."""
    text = data.decode("utf-8")
    if not text.endswith("\n") or "\r" in text or text.startswith("\ufeff"):
        raise ValueError("entries.csv must be UTF-8 without BOM with LF line ends and a final LF")
    lines = text[:-1].split("\n")
    if lines[0] != ENTRIES_HEADER:
        raise ValueError(f"entries.csv header must be {ENTRIES_HEADER!r}")
    entries = []
    for line in lines[1:]:
        left, _, right = line.partition(",")
        if not (left.isdigit() and right.isdigit()) or str(int(left)) != left or str(int(right)) != right:
            raise ValueError(f"bad entries.csv line {line!r}")
        entries.append((int(left), int(right)))
    if entries_csv(entries) != data:
        raise ValueError("entries.csv is not in its canonical form (sorted by entry_id)")
    return entries


def manual_beacon_hex(value: str) -> str:
    """A manual beacon value (e.g. lottery numbers as published) as the algorithm uses it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def draw_key(seed: bytes, draw_id: str, entries_hash: str, beacon_hex: str) -> bytes:
    message = "|".join((ALGORITHM, draw_id, entries_hash, beacon_hex)).encode("ascii")
    return hmac.new(seed, message, hashlib.sha256).digest()


def score(key: bytes, entry_id: int) -> int:
    return int.from_bytes(hmac.new(key, str(entry_id).encode("ascii"), hashlib.sha256).digest(), "big")


def pick(
    entries: Sequence[tuple[int, int]],
    *,
    seed: bytes,
    draw_id: str,
    entries_hash: str,
    beacon_hex: str,
    winners: int,
    alternates: int,
) -> DrawResult:
    """Winners (``winners`` participants, tier order) then ranked alternates.

    Fewer participants than places: every participant is taken and the rest stays empty.
    """
    if winners < 0 or alternates < 0:
        raise ValueError("winners and alternates must not be negative")
    key = draw_key(seed, draw_id, entries_hash, beacon_hex)
    wanted = winners + alternates
    ordered = sorted((score(key, entry_id), entry_id, participant_id) for entry_id, participant_id in entries)
    taken: set[int] = set()
    picks: list[Pick] = []
    for _score, entry_id, participant_id in ordered:
        if len(picks) >= wanted:
            break
        if participant_id in taken:
            continue
        taken.add(participant_id)
        picks.append(Pick(len(picks) + 1, entry_id, participant_id))
    return DrawResult(winners=tuple(picks[:winners]), alternates=tuple(picks[winners:]))


def pick_entries_csv(
    data: bytes,
    *,
    seed: bytes,
    draw_id: str,
    entries_hash: str,
    beacon_hex: str,
    winners: int,
    alternates: int,
) -> DrawResult:
    """:func:`pick` over the bytes of a canonical ``entries.csv`` (its hash checked by the
    caller), in one pass and little memory: the same outcome, without sorting every entry.

    Walking the entries in ``(score, entry_id)`` order takes each participant at their
    smallest entry, so the taken participants are the ``winners + alternates`` whose
    smallest ``(score, entry_id)`` are smallest, in that order. One pass keeps, for at
    most that many participants, their smallest entry so far; a participant whose entry
    ranks behind all of them cannot be taken. Scores compare as their big-endian digests.
    """
    if winners < 0 or alternates < 0:
        raise ValueError("winners and alternates must not be negative")
    wanted = winners + alternates
    header = (ENTRIES_HEADER + "\n").encode("ascii")
    if not data.startswith(header):
        raise ValueError(f"entries.csv header must be {ENTRIES_HEADER!r}")
    keyed = hmac_sha256(draw_key(seed, draw_id, entries_hash, beacon_hex))
    best: dict[bytes, tuple[bytes, int]] = {}  # participant -> its smallest (digest, entry_id) so far
    worst: tuple[bytes, int] | None = None  # the largest of ``best`` once it holds ``wanted``
    for line in _ENTRY_LINE.finditer(data, len(header)) if wanted else ():
        entry, participant = line.groups()
        score = keyed(entry)
        if worst is not None and score > worst[0]:
            continue
        candidate = (score, int(entry))
        held = best.get(participant)
        if held is not None:
            if candidate < held:
                best[participant] = candidate
                worst = max(best.values()) if worst is not None else None
            continue
        if worst is not None:
            if candidate > worst:
                continue
            del best[next(p for p, value in best.items() if value == worst)]
        best[participant] = candidate
        if len(best) == wanted:
            worst = max(best.values())
    ranked = sorted(best.items(), key=lambda item: item[1])
    picks = [Pick(rank, entry_id, int(participant)) for rank, (participant, (_s, entry_id)) in enumerate(ranked, 1)]
    return DrawResult(winners=tuple(picks[:winners]), alternates=tuple(picks[winners:]))


def hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 under ``key`` (RFC 2104) from precomputed inner and outer states: the
    same digests as ``hmac.digest(key, msg, "sha256")``, twice as fast per message."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(message: bytes) -> bytes:
        hashed = inner.copy()
        hashed.update(message)
        result = outer.copy()
        result.update(hashed.digest())
        return result.digest()

    return digest
