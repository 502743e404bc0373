"""drand beacons (League of Entropy), verified offline: round times, and the BLS12-381
signature of a round on quicknet (unchained, signatures on G1) and mainnet (chained,
signatures on G2). Pure: no network; the signature is given."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from py_ecc.bls.hash_to_curve import hash_to_G1, hash_to_G2
from py_ecc.bls.point_compression import decompress_G1, decompress_G2
from py_ecc.optimized_bls12_381 import (
    FQ12,
    G1,
    G2,
    curve_order,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    pairing,
)
from py_ecc.optimized_bls12_381.optimized_curve import b, b2


@dataclass(frozen=True, slots=True)
class Network:
    """A drand network's published chain information (``/info``)."""

    source: str  # the draw's beacon source name
    chain_hash: str
    public_key: str
    genesis_time: int
    period: int
    scheme: str
    chained: bool


# League of Entropy chain information, as published at https://api.drand.sh/<chain_hash>/info.
QUICKNET = Network(
    source="drand-quicknet",
    chain_hash="52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
    public_key="83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d"
               "1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a",
    genesis_time=1692803367,
    period=3,
    scheme="bls-unchained-g1-rfc9380",
    chained=False,
)
MAINNET = Network(
    source="drand-mainnet",
    chain_hash="8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce",
    public_key="868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a569937c529eeda66c7293784a9402801af31",
    genesis_time=1595431050,
    period=30,
    scheme="pedersen-bls-chained",
    chained=True,
)
NETWORKS = {network.source: network for network in (QUICKNET, MAINNET)}

_DST_G1 = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
_DST_G2 = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_"


class BeaconError(ValueError):
    """A beacon value that does not verify, or is not well formed."""


def round_time(network: Network, round_number: int) -> datetime:
    """When ``round_number`` is published (round 1 at genesis)."""
    if round_number < 1:
        raise BeaconError("drand rounds start at 1")
    return datetime.fromtimestamp(network.genesis_time, UTC) + timedelta(seconds=(round_number - 1) * network.period)


def first_round_at_or_after(network: Network, moment: datetime) -> int:
    """The first round published at ``moment`` or later."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    elapsed = moment.timestamp() - network.genesis_time
    if elapsed <= 0:
        return 1
    periods = int(elapsed // network.period)
    if periods * network.period < elapsed:
        periods += 1
    return periods + 1


def randomness(signature: bytes) -> str:
    """A round's randomness: ``sha256(signature)``, lowercase hex."""
    return hashlib.sha256(signature).hexdigest()


def round_message(network: Network, round_number: int, previous_signature: bytes | None) -> bytes:
    """What the network signs for a round: sha256([previous_signature ||] round as uint64 BE)."""
    if not 1 <= round_number < 2**64:
        raise BeaconError("drand round out of range")
    prefix = b""
    if network.chained:
        if not previous_signature:
            raise BeaconError("a chained network's round needs the previous signature")
        prefix = previous_signature
    return hashlib.sha256(prefix + round_number.to_bytes(8, "big")).digest()


def _g1(data: bytes, what: str):  # type: ignore[no-untyped-def]
    if len(data) != 48:
        raise BeaconError(f"{what} must be 48 bytes on G1")
    try:
        point = decompress_G1(int.from_bytes(data, "big"))  # type: ignore[arg-type]
    except (ValueError, AssertionError) as exc:
        raise BeaconError(f"{what} is not a point on G1") from exc
    if is_inf(point) or not is_on_curve(point, b) or not is_inf(multiply(point, curve_order)):
        raise BeaconError(f"{what} is not in the G1 subgroup")
    return point


def _g2(data: bytes, what: str):  # type: ignore[no-untyped-def]
    if len(data) != 96:
        raise BeaconError(f"{what} must be 96 bytes on G2")
    try:
        point = decompress_G2((int.from_bytes(data[:48], "big"), int.from_bytes(data[48:], "big")))  # type: ignore[arg-type]
    except (ValueError, AssertionError) as exc:
        raise BeaconError(f"{what} is not a point on G2") from exc
    if is_inf(point) or not is_on_curve(point, b2) or not is_inf(multiply(point, curve_order)):
        raise BeaconError(f"{what} is not in the G2 subgroup")
    return point


def verify(network: Network, round_number: int, signature: bytes, previous_signature: bytes | None = None) -> str:
    """Check the round's signature against the network's public key; return its randomness.

    Raises ``BeaconError`` when it does not verify (wrong round, altered signature, ...).
    """
    message = round_message(network, round_number, previous_signature)
    public_key = bytes.fromhex(network.public_key)
    if network.chained:  # public key on G1, signature on G2
        sig = _g2(signature, "signature")
        key = _g1(public_key, "public key")
        hashed = hash_to_G2(message, _DST_G2, hashlib.sha256)
        product = pairing(sig, neg(G1), final_exponentiate=False) * pairing(hashed, key, final_exponentiate=False)
    else:  # public key on G2, signature on G1
        sig = _g1(signature, "signature")
        key = _g2(public_key, "public key")
        hashed = hash_to_G1(message, _DST_G1, hashlib.sha256)
        product = pairing(G2, neg(sig), final_exponentiate=False) * pairing(key, hashed, final_exponentiate=False)
    if final_exponentiate(product) != FQ12.one():
        raise BeaconError(f"the signature is not the {network.source} signature of round {round_number}")
    return randomness(signature)
