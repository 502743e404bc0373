"""drand rounds verified offline against the League of Entropy public keys (issue 11's vectors)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from roko_app.draws import drand

ROOT = Path(__file__).resolve().parents[2]
VECTORS = {v["network"]: v for v in json.loads((ROOT / "tests/data/draw_known_answers.json").read_text())["drand"]}
QUICK, MAIN = VECTORS["quicknet"], VECTORS["mainnet"]


def _verify(vector: dict[str, Any], *, round_number: int | None = None, signature: bytes | None = None,
            previous: bytes | None = None) -> str:
    network = drand.QUICKNET if vector["network"] == "quicknet" else drand.MAINNET
    if previous is None and "previous_signature" in vector:
        previous = bytes.fromhex(vector["previous_signature"])
    return drand.verify(network, round_number or vector["round"],
                        signature if signature is not None else bytes.fromhex(vector["signature"]), previous)


@pytest.mark.parametrize("vector", [QUICK, MAIN], ids=["quicknet", "mainnet"])
def test_published_round_verifies_and_gives_its_randomness(vector: dict[str, Any]) -> None:
    assert _verify(vector) == vector["randomness"]


@pytest.mark.parametrize("vector", [QUICK, MAIN], ids=["quicknet", "mainnet"])
def test_the_signature_of_another_round_is_refused(vector: dict[str, Any]) -> None:
    for other in vector["refused_rounds"]:
        with pytest.raises(drand.BeaconError, match="not the drand"):
            _verify(vector, round_number=other)


@pytest.mark.parametrize("vector", [QUICK, MAIN], ids=["quicknet", "mainnet"])
@pytest.mark.parametrize("bit", [0, 7, 100, 383])
def test_a_flipped_bit_is_refused(vector: dict[str, Any], bit: int) -> None:
    signature = bytearray.fromhex(vector["signature"])
    signature[-1 - bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(drand.BeaconError):
        _verify(vector, signature=bytes(signature))


def test_mainnet_needs_the_right_previous_signature() -> None:
    previous = bytearray.fromhex(MAIN["previous_signature"])
    previous[10] ^= 0x01
    with pytest.raises(drand.BeaconError, match="not the drand"):
        _verify(MAIN, previous=bytes(previous))
    with pytest.raises(drand.BeaconError, match="previous signature"):
        drand.verify(drand.MAINNET, MAIN["round"], bytes.fromhex(MAIN["signature"]), None)


@pytest.mark.parametrize(("vector", "signature"), [
    (QUICK, b""), (QUICK, bytes(48)), (QUICK, bytes.fromhex(MAIN["signature"])),
    (MAIN, bytes.fromhex(QUICK["signature"])), (MAIN, b"\xc0" + bytes(95)),
])
def test_malformed_signatures_are_refused(vector: dict[str, Any], signature: bytes) -> None:
    with pytest.raises(drand.BeaconError):
        _verify(vector, signature=signature)


def test_round_times() -> None:
    assert drand.round_time(drand.QUICKNET, 1) == datetime.fromtimestamp(1692803367, UTC)
    assert drand.round_time(drand.QUICKNET, 657413) == datetime(2023, 9, 15, 11, 0, 3, tzinfo=UTC)
    assert drand.round_time(drand.MAINNET, 3) == datetime.fromtimestamp(1595431050 + 60, UTC)
    published = drand.round_time(drand.QUICKNET, 657413)
    assert drand.first_round_at_or_after(drand.QUICKNET, published) == 657413
    assert drand.first_round_at_or_after(drand.QUICKNET, published.replace(microsecond=1)) == 657414
    assert drand.first_round_at_or_after(drand.MAINNET, datetime(2000, 1, 1, tzinfo=UTC)) == 1
    with pytest.raises(drand.BeaconError):
        drand.round_time(drand.QUICKNET, 0)
