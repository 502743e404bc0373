"""Fetching a drand round from drand's HTTP API: the first relay with a well-formed answer
for exactly that round wins; anything else is a clear failure (the run then asks for the
signature to be pasted). What is fetched is verified offline by the run, not here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from roko_app.draws.drand import MAINNET, QUICKNET
from roko_app.draws.fetch import FetchFailed, fetch_round, round_url
from tests.helpers import drand_relay, free_port

KNOWN = json.loads((Path(__file__).resolve().parents[1] / "data/draw_known_answers.json").read_text())["drand"]
QUICK, MAIN = KNOWN[0], KNOWN[1]


def quick_body(**changes: object) -> dict[str, object]:
    return {"round": QUICK["round"], "randomness": QUICK["randomness"], "signature": QUICK["signature"], **changes}


def quick_path(round_number: int = QUICK["round"]) -> str:
    return f"{QUICKNET.chain_hash}/public/{round_number}"


def test_a_round_is_fetched_from_the_relay() -> None:
    with drand_relay({quick_path(): quick_body()}) as (url, asked):
        fetched = fetch_round(QUICKNET, QUICK["round"], [url])
    assert (fetched.signature, fetched.previous_signature) == (QUICK["signature"], None)
    assert fetched.url == round_url(url, QUICKNET, QUICK["round"]) and asked == ["/" + quick_path()]


def test_a_chained_round_brings_its_previous_signature() -> None:
    path = f"{MAINNET.chain_hash}/public/{MAIN['round']}"
    body = {"round": MAIN["round"], "signature": MAIN["signature"], "previous_signature": MAIN["previous_signature"]}
    with drand_relay({path: body}) as (url, _):
        fetched = fetch_round(MAINNET, MAIN["round"], [url])
    assert (fetched.signature, fetched.previous_signature) == (MAIN["signature"], MAIN["previous_signature"])


def test_the_next_relay_is_tried_when_one_is_down_or_not_published_yet() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with drand_relay({}) as (empty, _), drand_relay({quick_path(): quick_body()}) as (good, _):
        fetched = fetch_round(QUICKNET, QUICK["round"], [closed, empty, good], timeout=2)
    assert fetched.signature == QUICK["signature"]


@pytest.mark.parametrize(("body", "problem"), [
    (quick_body(round=QUICK["round"] + 1), "not 657413"),  # a relay answering another round
    (quick_body(signature="zz"), "signature is not hex"),
    (quick_body(signature=None), "signature is not hex"),
    ([1, 2], "not a JSON object"),
])
def test_a_malformed_answer_is_not_used(body: object, problem: str) -> None:
    with drand_relay({quick_path(): body}) as (url, _), pytest.raises(FetchFailed, match=problem):  # type: ignore[dict-item]
        fetch_round(QUICKNET, QUICK["round"], [url])


def test_nothing_reachable_says_what_each_relay_answered() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with drand_relay({}, status=503) as (busy, _), pytest.raises(FetchFailed) as raised:
        fetch_round(QUICKNET, QUICK["round"], [closed, busy], timeout=2)
    assert "ConnectionError" in str(raised.value) and "HTTP 503" in str(raised.value)
    with pytest.raises(FetchFailed, match="no drand URL"):
        fetch_round(QUICKNET, QUICK["round"], [])
