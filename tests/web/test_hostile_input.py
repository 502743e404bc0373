"""No input gets a 5xx: each class of hostile JSON the attack probe found (issue 12, item
1) is answered by every JSON API with a documented 4xx, and nothing is stored.

Runs on the suite's backend: with ``ROKO_TEST_DATABASE_URL`` set, on PostgreSQL, which
refuses NUL in text columns and non-finite numbers in JSON columns.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.models import InboundSms
from roko_app.web.validation import MAX_DEPTH
from tests.factories import issue_key
from tests.helpers import JSON_APIS, VALID_BODIES, api_config, assert_documented_error, post_raw, stored_rows

NOTHING = {"inbound_sms": 0, "inbound_discrepancy": 0, "outbound_sms": 0, "campaign_batch": 0,
           "campaign_rejection": 0}


@pytest.fixture
def app(make_app: Any, simulator: Any) -> Any:
    return make_app(**api_config(simulator.url))


@pytest.fixture
def api_key(app: Any) -> str:
    return issue_key(app)


def body_with(api: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """The API's valid body with ``value`` put at ``path`` (containers made as needed)."""
    body = copy.deepcopy(VALID_BODIES[api])
    node: Any = body
    for step, following in zip(path, (*path[1:], None), strict=True):
        if isinstance(node, list):
            while len(node) <= step:  # type: ignore[operator]
                node.append({})
        if following is None:
            node[step] = value
        else:
            if isinstance(node, dict) and step not in node:
                node[step] = [] if isinstance(following, int) else {}
            node = node[step]
    return body


def encode(body: Any) -> bytes:
    """JSON text as a careless client writes it: \\uXXXX escapes for everything non-ASCII,
    lone surrogates included."""
    return json.dumps(body, allow_nan=True).encode()


def refused(app: Any, client: Any, api: str, raw: bytes, api_key: str, code: str) -> dict[str, Any]:
    body = assert_documented_error(post_raw(client, api, raw, api_key=api_key), 400, code)
    assert stored_rows(app) == NOTHING
    return body


def fields(body: dict[str, Any]) -> list[str]:
    return [detail["field"] for detail in body.get("details", [])]


# --- timestamps whose offset pushes them out of the datetime range --------------------------

@pytest.mark.parametrize("timestamp", [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:30:00-00:31",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:59:59.999999+01:00",
    "0001-01-01T00:00:00+23:59:59",
    # Storable, but not showable in every time zone: outside the years 1900 to 9998.
    "0001-01-01T00:00:00Z",
    "1899-12-31T23:59:59.999999Z",
    "9999-01-01T00:00:00Z",
    "9999-12-30T23:59:59+14:00",
])
def test_timestamps_out_of_range_in_utc_are_refused(app: Any, client: Any, api_key: str, timestamp: str) -> None:
    body = refused(app, client, "inbound", encode(body_with("inbound", ("timestamp",), timestamp)), api_key,
                   "VALIDATION_ERROR")
    assert fields(body) == ["timestamp"]


@pytest.mark.parametrize(("timestamp", "stored"), [
    ("1900-01-01T00:00:00Z", "1900-01-01T00:00:00+00:00"),
    ("1900-01-01T00:00:00+23:59", "1899-12-31T00:01:00+00:00"),
    ("9998-12-31T23:59:59.999999Z", "9998-12-31T23:59:59.999999+00:00"),
    ("9998-12-31T23:59:59-23:59", "9999-01-01T23:58:59+00:00"),
    ("2026-05-15t10:30:00z", "2026-05-15T10:30:00+00:00"),  # RFC 3339 allows lower case
])
def test_the_first_and_last_instants_are_stored(app: Any, client: Any, api_key: str, timestamp: str,
                                                 stored: str) -> None:
    response = post_raw(client, "inbound", encode(body_with("inbound", ("timestamp",), timestamp)), api_key=api_key)
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        assert db.session.get(InboundSms, response.get_json()["sms_id"]).gateway_timestamp.isoformat() == stored


# --- nesting ------------------------------------------------------------------------------

def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def objects(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


DEEP_BODIES = {
    "1000 arrays (2 kB)": arrays(1000),
    "1000 objects": objects(1000),
    "7000 arrays": arrays(7000),  # the deepest that fits the send API's 16 KiB
    "1000 arrays in a field": b'{"text": ' + arrays(1000) + b"}",
    "one level too deep": b'{"a": ' + arrays(MAX_DEPTH) + b"}",
    "too deep in a list of objects": b'{"recipients": [{"x": ' + objects(MAX_DEPTH) + b"}]}",
}


@pytest.mark.parametrize("api", JSON_APIS)
@pytest.mark.parametrize("raw", DEEP_BODIES.values(), ids=DEEP_BODIES.keys())
def test_deeply_nested_bodies_are_refused(app: Any, client: Any, api_key: str, api: str, raw: bytes) -> None:
    body = refused(app, client, api, raw, api_key, "MALFORMED_JSON")
    assert str(MAX_DEPTH) in body["message"]


@pytest.mark.parametrize("api", JSON_APIS)
def test_nesting_up_to_the_limit_is_fine(app: Any, client: Any, api_key: str, api: str) -> None:
    nested: Any = 1
    for _ in range(MAX_DEPTH - 1):  # the body itself is the first level
        nested = [nested]
    response = post_raw(client, api, encode(body_with(api, ("ignored",), nested)), api_key=api_key)
    assert response.status_code == 200, response.get_json()


# --- NUL and lone surrogates in any string, keys included ---------------------------------

# (api, where the bad string goes, the field the answer names). "<key>" puts it in a name.
STRING_PLACES = [
    ("inbound", ("text",), "text"),
    ("inbound", ("sender",), "sender"),
    ("inbound", ("timestamp",), "timestamp"),
    ("inbound", ("source",), "source"),
    ("inbound", ("ignored",), "ignored"),
    ("inbound", ("ignored", "deep", 0, "x"), "ignored.deep[0].x"),
    ("inbound", ("<key>",), "k<bad>"),
    ("send", ("phone_number",), "phone_number"),
    ("send", ("text",), "text"),
    ("send", ("template_key",), "template_key"),
    ("send", ("ignored",), "ignored"),
    ("send", ("ignored", "<key>"), "ignored.k<bad>"),
    ("optimove", ("batchId",), "batchId"),
    ("optimove", ("requestId",), "requestId"),
    ("optimove", ("senderId",), "senderId"),
    ("optimove", ("engagementId",), "engagementId"),
    ("optimove", ("metadata", "brandId"), "metadata.brandId"),
    ("optimove", ("metadata", "campaignId"), "metadata.campaignId"),
    ("optimove", ("metadata", "engagementId"), "metadata.engagementId"),
    ("optimove", ("metadata", "scheduledTime"), "metadata.scheduledTime"),
    ("optimove", ("metadata", "ignored", "x"), "metadata.ignored.x"),
    ("optimove", ("metadata", "<key>"), "metadata.k<bad>"),
    ("optimove", ("recipients", 0, "message"), "recipients[0].message"),
    ("optimove", ("recipients", 0, "mobileNumber"), "recipients[0].mobileNumber"),
    ("optimove", ("recipients", 0, "customerId"), "recipients[0].customerId"),
    ("optimove", ("recipients", 1, "content", "message"), "recipients[1].content.message"),
    ("optimove", ("recipients", 0, "<key>"), "recipients[0].k<bad>"),
    ("optimove", ("ignored",), "ignored"),
    ("optimove", ("ignored", 3), "ignored[3]"),
]


def bad_body(api: str, path: tuple[str | int, ...], bad: str) -> dict[str, Any]:
    if path[-1] == "<key>":
        return body_with(api, (*path[:-1], f"k{bad}"), "value")
    return body_with(api, path, f"17041{bad}06200000")


def place_id(place: tuple[str, tuple[Any, ...], str]) -> str:
    return f"{place[0]}:{place[2]}"


@pytest.mark.parametrize(("api", "path", "field"), STRING_PLACES, ids=[place_id(p) for p in STRING_PLACES])
def test_nul_in_any_string_is_refused_naming_it(app: Any, client: Any, api_key: str, api: str,
                                                path: tuple[Any, ...], field: str) -> None:
    body = refused(app, client, api, encode(bad_body(api, path, "\x00")), api_key, "VALIDATION_ERROR")
    assert field.replace("<bad>", "\\u0000") in fields(body)


@pytest.mark.parametrize(("api", "path", "field"), STRING_PLACES, ids=[place_id(p) for p in STRING_PLACES])
def test_lone_surrogates_in_any_string_are_refused_naming_it(app: Any, client: Any, api_key: str, api: str,
                                                             path: tuple[Any, ...], field: str) -> None:
    body = refused(app, client, api, encode(bad_body(api, path, "\ud800")), api_key, "VALIDATION_ERROR")
    assert field.replace("<bad>", "\\ud800") in fields(body)


@pytest.mark.parametrize("api", JSON_APIS)
@pytest.mark.parametrize("bad", ["\udfff", "\udc00\ud800", "\ud83d", "a\ud83d\ud83d\ude00"])
def test_every_kind_of_lone_surrogate_is_refused(app: Any, client: Any, api_key: str, api: str, bad: str) -> None:
    refused(app, client, api, encode(body_with(api, ("ignored",), bad)), api_key, "VALIDATION_ERROR")


# Surrogates and NUL written as raw bytes rather than escapes: not text in any encoding.
RAW_BYTES = {
    "UTF-8-encoded surrogate": b'{"ignored": "\xed\xa0\x80"}',
    "CESU-8 pair": b'{"ignored": "\xed\xa0\xbd\xed\xb8\x80"}',
    "UTF-16 lone surrogate": "\ufeff{\"ignored\": \"".encode("utf-16-le") + b"\x00\xd8" + '"}'.encode("utf-16-le"),
    "raw NUL in a string": b'{"ignored": "a\x00b"}',
    "raw NUL outside": b'{"ignored": 1}\x00',
}


@pytest.mark.parametrize("api", JSON_APIS)
@pytest.mark.parametrize("raw", RAW_BYTES.values(), ids=RAW_BYTES.keys())
def test_bodies_that_are_not_text_are_malformed(app: Any, client: Any, api_key: str, api: str, raw: bytes) -> None:
    refused(app, client, api, raw, api_key, "MALFORMED_JSON")


@pytest.mark.parametrize("api", ["inbound", "optimove"])
def test_escaped_surrogate_pairs_are_characters_like_any_other(app: Any, client: Any, api_key: str, api: str) -> None:
    path = ("text",) if api == "inbound" else ("recipients", 0, "message")
    raw = encode(body_with(api, path, "Bravo \U0001f600"))
    assert b"\\ud83d\\ude00" in raw
    response = post_raw(client, api, raw, api_key=api_key)
    assert response.status_code == 200, response.get_json()
    if api == "inbound":
        with app.app_context():
            assert db.session.get(InboundSms, response.get_json()["sms_id"]).text == "Bravo \U0001f600"


# --- numbers JSON has no room for ----------------------------------------------------------

@pytest.mark.parametrize("api", JSON_APIS)
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
def test_non_finite_numbers_are_malformed(app: Any, client: Any, api_key: str, api: str, literal: bytes) -> None:
    raw = encode(body_with(api, ("ignored",), "@@"))
    refused(app, client, api, raw.replace(b'"@@"', literal), api_key, "MALFORMED_JSON")


# --- scheduledTime ------------------------------------------------------------------------

BAD_SCHEDULED_TIMES = [
    "\uff11\uff17\uff10\uff14\uff11\uff10\uff16\uff12\uff10\uff10\uff10\uff10\uff10",  # full-width digits
    "\u0661\u0667\u0660\u0664\u0661\u0660\u0666\u0662\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic digits
    "\u0967\u096d\u0966\u096a",  # Devanagari digits
    "\u00b2",  # a superscript: isdigit() but not a decimal
    "17041062\u00b900000",
    "9" * 5000,
    "9" * 17,
    "100000000000000",  # 15 digits: past the 14 that openapi.yaml allows
    "+1704106200000",
    "-1",
    " 1704106200000",
    "1704106200000 ",
    "1.7e12",
    "",
    10**30,
    10**14,
    -1,
    1704106200000.5,
    True,
    [1704106200000],
]


@pytest.mark.parametrize("value", BAD_SCHEDULED_TIMES, ids=lambda v: repr(v)[:24])
def test_bad_scheduled_times_are_refused(app: Any, client: Any, api_key: str, value: Any) -> None:
    body = refused(app, client, "optimove", encode(body_with("optimove", ("metadata", "scheduledTime"), value)),
                   api_key, "VALIDATION_ERROR")
    assert fields(body) == ["metadata.scheduledTime"]


@pytest.mark.parametrize(("value", "millis"), [
    ("1704106200000", 1704106200000),
    (1704106200000, 1704106200000),
    (1704106200000.0, 1704106200000),
    ("0", 0),
    (99999999999999, 99999999999999),
    ("99999999999999", 99999999999999),
])
def test_good_scheduled_times_are_accepted(app: Any, client: Any, api_key: str, value: Any, millis: int) -> None:
    response = post_raw(client, "optimove", encode(body_with("optimove", ("metadata", "scheduledTime"), value)),
                        api_key=api_key)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scheduledTime"] == millis
