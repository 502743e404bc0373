"""``roko-draw-v1``: the app's implementation and ``docs/verify_draw.py`` against the
issue's known answers, against each other on random draws, and the verifier's refusals."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roko_app.draws import algorithm

ROOT = Path(__file__).resolve().parents[2]
KNOWN = json.loads((ROOT / "tests/data/draw_known_answers.json").read_text(encoding="utf-8"))
VERIFIER_PATH = ROOT / "docs/verify_draw.py"


def _load_verifier() -> Any:
    spec = importlib.util.spec_from_file_location("verify_draw", VERIFIER_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


verifier = _load_verifier()
ENTRIES = [(i, 1 + (i * 7) % 13) for i in range(KNOWN["entries"]["first"], KNOWN["entries"]["last"] + 1)]
SEED = bytes.fromhex(KNOWN["seed"])


def _beacon_hex(case: dict[str, Any]) -> str:
    if case["source"] == "manual":
        return algorithm.manual_beacon_hex(case["value"])
    return hashlib.sha256(bytes.fromhex(case["signature"])).hexdigest()


def test_commitment_and_entries_hash_known_answers() -> None:
    assert algorithm.commitment(SEED) == KNOWN["commitment"]
    assert algorithm.entries_sha256(ENTRIES) == KNOWN["entries_sha256"]
    assert hashlib.sha256(algorithm.entries_csv(ENTRIES)).hexdigest() == KNOWN["entries_sha256"]
    assert algorithm.entries_csv(ENTRIES).startswith(b"entry_id,participant_id\n1,8\n2,2\n")


@pytest.mark.parametrize("case", KNOWN["cases"], ids=lambda case: case["source"])
def test_app_picks_the_known_winners_and_alternates(case: dict[str, Any]) -> None:
    beacon = _beacon_hex(case)
    if "randomness" in case:
        assert beacon == case["randomness"]
    outcome = algorithm.pick(ENTRIES, seed=SEED, draw_id=KNOWN["draw_id"], entries_hash=KNOWN["entries_sha256"],
                             beacon_hex=beacon, winners=KNOWN["winners"], alternates=KNOWN["alternates"])
    assert [[p.entry_id, p.participant_id] for p in outcome.winners] == case["winners"]
    assert [[p.entry_id, p.participant_id] for p in outcome.alternates] == case["alternates"]
    assert [p.rank for p in outcome.winners + outcome.alternates] == [1, 2, 3, 4, 5]


def _bundle(directory: Path, case: dict[str, Any], **changes: Any) -> Path:
    """A bundle written by hand from the known answers (not by the app's code)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = "entry_id,participant_id\n" + "".join(f"{e},{p}\n" for e, p in ENTRIES)
    (directory / "entries.csv").write_bytes(changes.pop("entries_bytes", lines.encode()))
    (directory / "exclusions.csv").write_bytes(changes.pop("exclusions_bytes", b"participant_id,reason\n"))
    beacon = {"source": case["source"], "round": case.get("round"), "signature": case.get("signature"),
              "value": case.get("value"), "randomness": _beacon_hex(case)}
    draw = {
        "algorithm": "roko-draw-v1", "draw_id": KNOWN["draw_id"], "name": "Test",
        "commitment": KNOWN["commitment"], "seed": KNOWN["seed"], "beacon": beacon,
        "entries_sha256": KNOWN["entries_sha256"], "entries_count": 40, "participants_count": 13,
        "prizes": [{"tier": 1, "name": "Tricycle", "count": 1}, {"tier": 2, "name": "Sac", "count": 2}],
        "winners": [{"tier": t, "entry_id": e, "participant_id": p, "msisdn_masked": "62•••••78", "state": "notified"}
                    for t, (e, p) in zip((1, 2, 2), case["winners"])],
        "alternates": [{"rank": r, "entry_id": e, "participant_id": p, "msisdn_masked": "62•••••78"}
                       for r, (e, p) in enumerate(case["alternates"], start=1)],
        "alternates_wanted": 2,
    }
    for key, value in changes.items():
        if key == "beacon":
            draw["beacon"] = {**draw["beacon"], **value}
        else:
            draw[key] = value
    (directory / "draw.json").write_text(json.dumps(draw), encoding="utf-8")
    return directory


@pytest.mark.parametrize("case", KNOWN["cases"], ids=lambda case: case["source"])
def test_verifier_accepts_the_known_answers(tmp_path: Path, case: dict[str, Any]) -> None:
    bundle = _bundle(tmp_path / "bundle", case)
    done = subprocess.run([sys.executable, str(VERIFIER_PATH), str(bundle)], capture_output=True, text=True,
                          check=False)
    assert (done.returncode, done.stdout) == (0, "OK\n")


MANUAL = KNOWN["cases"][0]
SWAPPED = [MANUAL["winners"][1], MANUAL["winners"][0], MANUAL["winners"][2]]


@pytest.mark.parametrize(("changes", "message"), [
    ({"seed": "00" * 31 + "2b"}, "commitment"),
    ({"seed": None}, "not been run"),
    ({"commitment": "00" * 32}, "commitment"),
    ({"entries_sha256": "00" * 32}, "SHA-256"),
    ({"entries_count": 39}, "entries"),
    ({"participants_count": 12}, "participants"),
    ({"draw_id": "TEST-2"}, "winners differ"),
    ({"algorithm": "roko-draw-v2"}, "algorithm"),
    ({"alternates_wanted": 3}, "alternates differ"),
    ({"beacon": {"value": "LONAGUI 2026-06-01 12 34 57"}}, "randomness"),
    ({"beacon": {"randomness": "00" * 32}}, "randomness"),
    ({"winners": [{"tier": t, "entry_id": e, "participant_id": p} for t, (e, p) in zip((1, 2, 2), SWAPPED)]},
     "winners differ"),
    ({"alternates": []}, "alternates differ"),
    ({"exclusions_bytes": b"participant_id,reason\n10,staff\n"}, "excluded participant 10"),
    ({"exclusions_bytes": b"msisdn\n"}, "header"),
    ({"entries_bytes": b"entry_id,participant_id\r\n1,8\r\n"}, "LF"),
])
def test_verifier_refuses_a_bundle_that_does_not_check_out(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    bundle = _bundle(tmp_path / "bundle", MANUAL, **changes)
    done = subprocess.run([sys.executable, str(VERIFIER_PATH), str(bundle)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    assert done.stdout.startswith("FAILED: ") and message in done.stdout
    assert done.stdout.count("\n") == 1 and done.stderr == ""


def test_verifier_refuses_a_tampered_entry_list(tmp_path: Path) -> None:
    tampered = ENTRIES[:-1] + [(40, 9)]
    lines = "entry_id,participant_id\n" + "".join(f"{e},{p}\n" for e, p in tampered)
    bundle = _bundle(tmp_path / "bundle", MANUAL, entries_bytes=lines.encode())
    assert subprocess.run([sys.executable, str(VERIFIER_PATH), str(bundle)], capture_output=True,
                          check=False).returncode == 1


def test_verifier_needs_a_directory_argument() -> None:
    done = subprocess.run([sys.executable, str(VERIFIER_PATH)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "usage" in done.stdout


@pytest.mark.parametrize("bad", [
    b"entry_id,participant_id\n2,1\n1,1\n",  # not sorted
    b"entry_id,participant_id\n1,1\n1,2\n",  # repeated id
    b"entry_id,participant_id\n01,1\n",  # not canonical
    b"\xef\xbb\xbfentry_id,participant_id\n1,1\n",  # BOM
    b"entry_id,participant_id\n1,1",  # no final LF
    b"id,participant\n1,1\n",
])
def test_entries_csv_must_be_canonical(bad: bytes) -> None:
    with pytest.raises(ValueError):
        algorithm.parse_entries_csv(bad)
    with pytest.raises(verifier.BundleError):
        verifier.read_entries(bad)


def test_entries_csv_round_trip_and_sort_check() -> None:
    data = algorithm.entries_csv(ENTRIES)
    assert algorithm.parse_entries_csv(data) == ENTRIES == verifier.read_entries(data)
    with pytest.raises(ValueError):
        algorithm.entries_csv([(2, 1), (1, 1)])


def test_fewer_participants_than_places_fills_what_it_can() -> None:
    entries = [(1, 7), (2, 7), (3, 8)]
    outcome = algorithm.pick(entries, seed=SEED, draw_id="D", entries_hash=algorithm.entries_sha256(entries),
                             beacon_hex="ab" * 32, winners=2, alternates=3)
    assert {p.participant_id for p in outcome.winners} == {7, 8}
    assert outcome.alternates == ()


entry_lists = st.dictionaries(st.integers(1, 10**12), st.integers(1, 30), min_size=1, max_size=60).map(
    lambda mapping: sorted(mapping.items())
)


@settings(max_examples=150, deadline=None)
@given(entries=entry_lists, seed=st.binary(min_size=32, max_size=32),
       draw_id=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20),
       beacon=st.binary(min_size=32, max_size=32), winners=st.integers(0, 8), alternates=st.integers(0, 8))
def test_app_and_verifier_agree(entries: list[tuple[int, int]], seed: bytes, draw_id: str, beacon: bytes,
                                winners: int, alternates: int) -> None:
    entries_hash = algorithm.entries_sha256(entries)
    assert entries_hash == verifier.sha256_hex(algorithm.entries_csv(entries))
    outcome = algorithm.pick(entries, seed=seed, draw_id=draw_id, entries_hash=entries_hash,
                             beacon_hex=beacon.hex(), winners=winners, alternates=alternates)
    recomputed = verifier.compute(entries, seed, draw_id, entries_hash, beacon.hex(), winners + alternates)
    assert [(p.entry_id, p.participant_id) for p in outcome.winners + outcome.alternates] == recomputed
    assert len({p.participant_id for p in outcome.winners + outcome.alternates}) == len(recomputed)


@pytest.mark.parametrize("case", KNOWN["cases"], ids=lambda case: case["source"])
def test_the_one_pass_pick_gives_the_known_answers(case: dict[str, Any]) -> None:
    beacon = algorithm.manual_beacon_hex(case["value"]) if case["source"] == "manual" else case["randomness"]
    streamed = algorithm.pick_entries_csv(algorithm.entries_csv(ENTRIES), seed=SEED, draw_id=KNOWN["draw_id"],
                                          entries_hash=KNOWN["entries_sha256"], beacon_hex=beacon,
                                          winners=KNOWN["winners"], alternates=KNOWN["alternates"])
    assert [[p.entry_id, p.participant_id] for p in streamed.winners] == case["winners"]
    assert [[p.entry_id, p.participant_id] for p in streamed.alternates] == case["alternates"]


@settings(max_examples=300, deadline=None)
@given(entries=entry_lists, seed=st.binary(min_size=32, max_size=32), beacon=st.binary(min_size=32, max_size=32),
       winners=st.integers(0, 8), alternates=st.integers(0, 8))
def test_the_one_pass_pick_equals_the_sorting_pick(entries: list[tuple[int, int]], seed: bytes, beacon: bytes,
                                                  winners: int, alternates: int) -> None:
    entries_hash = algorithm.entries_sha256(entries)
    values = {"seed": seed, "draw_id": "D-1", "entries_hash": entries_hash, "beacon_hex": beacon.hex(),
              "winners": winners, "alternates": alternates}
    assert algorithm.pick_entries_csv(algorithm.entries_csv(entries), **values) == algorithm.pick(entries, **values)


def test_the_one_pass_pick_refuses_another_header() -> None:
    with pytest.raises(ValueError, match="header"):
        algorithm.pick_entries_csv(b"id,participant\n1,1\n", seed=SEED, draw_id="D", entries_hash="0" * 64,
                                   beacon_hex="ab" * 32, winners=1, alternates=0)


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_the_fast_hmac_ishmac_sha256(key: bytes) -> None:
    import hmac

    fast = algorithm.hmac_sha256(key)
    for message in (b"", b"1", b"1234567", b"x" * 100):
        assert fast(message) == hmac.digest(key, message, "sha256")
