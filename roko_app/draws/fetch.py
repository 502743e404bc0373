"""Fetching a drand round from drand's public HTTP API (``GET {url}/{chain_hash}/public/{round}``).

What is fetched is only a convenience: the run verifies the signature offline against
the network's public key (:func:`roko_app.draws.drand.verify`) whatever its source, so
a wrong or malicious relay can make a run fail but never change its result. When no
relay answers, the operator pastes the round's signature instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import requests

from roko_app.draws.drand import Network

_HEX = re.compile(r"[0-9a-f]+")


class FetchFailed(Exception):
    """No relay gave the round; the message says what each one answered."""


@dataclass(frozen=True, slots=True)
class FetchedRound:
    signature: str
    previous_signature: str | None
    url: str


def round_url(base_url: str, network: Network, round_number: int) -> str:
    return f"{base_url.rstrip('/')}/{network.chain_hash}/public/{round_number}"


def fetch_round(network: Network, round_number: int, base_urls: Sequence[str], *,
                timeout: float = 5.0, session: requests.Session | None = None) -> FetchedRound:
    """The round's signature (and the previous one on a chained network) from the first
    relay that gives a well-formed answer for exactly that round."""
    problems: list[str] = []
    http = session or requests.Session()
    try:
        for base_url in base_urls:
            url = round_url(base_url, network, round_number)
            try:
                response = http.get(url, timeout=timeout, headers={"Accept": "application/json"})
            except requests.RequestException as exc:
                problems.append(f"{base_url}: {type(exc).__name__}")
                continue
            if response.status_code != 200:
                problems.append(f"{base_url}: HTTP {response.status_code}"
                                + (" (not published yet?)" if response.status_code in (404, 425) else ""))
                continue
            try:
                return _parse(response.json(), network, round_number, url)
            except (ValueError, TypeError, KeyError) as exc:
                problems.append(f"{base_url}: {exc}")
    finally:
        if session is None:
            http.close()
    raise FetchFailed("; ".join(problems) or "no drand URL is configured")


def _parse(body: object, network: Network, round_number: int, url: str) -> FetchedRound:
    if not isinstance(body, dict):
        raise ValueError("the answer is not a JSON object")
    if body.get("round") != round_number:
        raise ValueError(f"the answer is for round {body.get('round')!r}, not {round_number}")
    signature = _hex(body["signature"], "signature")
    previous = _hex(body["previous_signature"], "previous_signature") if network.chained else None
    return FetchedRound(signature, previous, url)


def _hex(value: object, name: str) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value.lower()):
        raise ValueError(f"{name} is not hex")
    return value.lower()
