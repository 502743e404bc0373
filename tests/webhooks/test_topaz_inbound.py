"""POST /api/v1/webhooks/topaz/inbound, rule by rule (seed 000, inbound half)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from roko_app.extensions import db
from roko_app.models import InboundDiscrepancy, InboundSms
from tests.helpers import SEED_EXAMPLE, WEBHOOK_TOKEN, assert_error, body_with, count, post


def sms_rows(app: Any) -> list[InboundSms]:
    with app.app_context():
        return list(db.session.scalars(select(InboundSms).order_by(InboundSms.id)))


# --- the happy path -------------------------------------------------------------------

def test_seed_example_is_accepted_and_stored(app: Any, client: Any) -> None:
    response = post(client, SEED_EXAMPLE)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "accepted"
    (row,) = sms_rows(app)
    assert body == {"status": "accepted", "sms_id": row.id}
    assert (row.gateway_sms_id, row.port, row.sender, row.sender_msisdn) == (101, 17, "612345678", "612345678")
    assert row.text == "ROKO U12345678"
    assert row.gateway_timestamp == datetime(2026, 5, 15, 10, 30, tzinfo=UTC)
    assert row.source == "topaz"
    assert row.received_at.tzinfo is not None


def test_raw_text_is_stored_untouched(app: Any, client: Any) -> None:
    text = "  roko\tu1234 5678 « reçu » 🎉\r\nÉté  "
    assert post(client, body_with(text=text)).status_code == 200
    assert sms_rows(app)[0].text == text


@pytest.mark.parametrize(
    ("sender", "normalised"),
    [
        ("612345678", "612345678"),
        ("224612345678", "612345678"),
        ("+224612345678", "612345678"),
        ("00224612345678", "612345678"),
        ("+33612345678", None),  # not a Guinea number: kept as received only
        ("712345678", None),  # 9 digits but not a mobile
        ("123456", None),
    ],
)
def test_sender_kept_as_received_and_normalised_when_guinean(app: Any, client: Any, sender: str,
                                                            normalised: str | None) -> None:
    assert post(client, body_with(sender=sender)).status_code == 200
    row = sms_rows(app)[0]
    assert (row.sender, row.sender_msisdn) == (sender, normalised)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-05-15T10:30:00Z", datetime(2026, 5, 15, 10, 30, tzinfo=UTC)),
        ("2026-05-15T11:30:00+01:00", datetime(2026, 5, 15, 10, 30, tzinfo=UTC)),
        ("2026-05-15T10:30:00.250Z", datetime(2026, 5, 15, 10, 30, 0, 250000, tzinfo=UTC)),
        ("2026-05-15T10:30:00", datetime(2026, 5, 15, 10, 30, tzinfo=UTC)),  # no offset: UTC
    ],
)
def test_timestamp_is_stored_in_utc(app: Any, client: Any, timestamp: str, expected: datetime) -> None:
    assert post(client, body_with(timestamp=timestamp)).status_code == 200
    assert sms_rows(app)[0].gateway_timestamp == expected


def test_source_defaults_to_topaz_and_unknown_fields_are_ignored(app: Any, client: Any) -> None:
    response = post(client, body_with(source=..., imei="35693803564380", extra={"a": 1}))
    assert response.status_code == 200
    assert sms_rows(app)[0].source == "topaz"


# --- authentication ---------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "wrong-token", WEBHOOK_TOKEN + "x", WEBHOOK_TOKEN[:-1]])
def test_missing_or_wrong_token_is_401_nothing_stored_one_warning(app: Any, client: Any, caplog: Any,
                                                                 token: str | None) -> None:
    caplog.set_level(logging.WARNING, logger="roko_app")
    response = post(client, SEED_EXAMPLE, token=token)
    assert_error(response, 401, "INVALID_WEBHOOK_TOKEN")
    assert count(app) == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    if token:
        assert token not in caplog.text
    assert WEBHOOK_TOKEN not in caplog.text


def test_auth_is_checked_before_the_body(client: Any) -> None:
    assert_error(post(client, raw=b"{not json", token="nope"), 401, "INVALID_WEBHOOK_TOKEN")


# --- validation: each field on both sides of each limit ---------------------------------

VALID_CHANGES = [
    {"gateway_sms_id": 0},
    {"gateway_sms_id": 2**63 - 1},
    {"port": 0},
    {"port": 31},
    {"port": 17.0},  # a JSON integer, as JSON Schema (and openapi.yaml) says
    {"gateway_sms_id": 101.0},
    {"sender": "6" * 6},
    {"sender": "+" * 20},
    {"sender": "+224612345678"},
    {"text": "x"},
    {"text": "é" * 1600},
    {"source": ""},
    {"source": "s" * 30},
]

INVALID_CHANGES = [
    ("gateway_sms_id", -1),
    ("gateway_sms_id", 2**63),
    ("gateway_sms_id", True),
    ("gateway_sms_id", "101"),
    ("gateway_sms_id", 101.5),
    ("gateway_sms_id", None),
    ("gateway_sms_id", ...),
    ("port", -1),
    ("port", 32),
    ("port", "17"),
    ("port", False),
    ("port", ...),
    ("sender", "12345"),
    ("sender", "1" * 21),
    ("sender", "612 345 678"),
    ("sender", "61234567a"),
    ("sender", "612345678\n"),
    ("sender", 612345678),
    ("sender", ...),
    ("text", ""),
    ("text", "x" * 1601),
    ("text", 42),
    ("text", None),
    ("text", "a\x00b"),
    ("text", ...),
    ("timestamp", "2026-05-15"),
    ("timestamp", "yesterday"),
    ("timestamp", "2026-13-15T10:30:00Z"),
    ("timestamp", 1778841000),
    ("timestamp", ""),
    ("timestamp", ...),
    ("source", "s" * 31),
    ("source", 7),
    ("source", None),
]


@pytest.mark.parametrize("changes", VALID_CHANGES, ids=lambda c: f"{next(iter(c))}={str(next(iter(c.values())))[:12]}")
def test_values_at_the_limits_are_accepted(app: Any, client: Any, changes: dict[str, Any]) -> None:
    response = post(client, body_with(**changes))
    assert response.status_code == 200, response.get_json()
    assert count(app) == 1


@pytest.mark.parametrize(("name", "value"), INVALID_CHANGES, ids=lambda v: repr(v)[:20])
def test_each_violation_is_a_400_naming_the_field(app: Any, client: Any, name: str, value: Any) -> None:
    body = assert_error(post(client, body_with(**{name: value})), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in body["details"]] == [name]
    assert all(isinstance(d["problem"], str) and d["problem"] for d in body["details"])
    assert count(app) == 0


def test_every_problem_is_listed_at_once(client: Any) -> None:
    body = assert_error(post(client, {"port": 99, "text": ""}), 400, "VALIDATION_ERROR")
    assert {d["field"] for d in body["details"]} == {"gateway_sms_id", "port", "sender", "text", "timestamp"}


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe{}", b"null"])
def test_malformed_json_is_400_in_the_error_shape(app: Any, client: Any, raw: bytes) -> None:
    assert_error(post(client, raw=raw), 400, "MALFORMED_JSON")
    assert count(app) == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_non_json_content_type_is_415(app: Any, client: Any, content_type: str) -> None:
    assert_error(post(client, raw=json.dumps(SEED_EXAMPLE).encode(), content_type=content_type),
                 415, "UNSUPPORTED_MEDIA_TYPE")
    assert count(app) == 0


def test_json_with_charset_is_accepted(client: Any) -> None:
    response = post(client, raw=json.dumps(SEED_EXAMPLE).encode(), content_type="application/json; charset=utf-8")
    assert response.status_code == 200


def test_body_over_64_kib_is_413_and_at_the_limit_is_read(app: Any, client: Any) -> None:
    limit = 64 * 1024
    filler = json.dumps(SEED_EXAMPLE)[:-1] + ', "pad": "'
    at_limit = (filler + "x" * (limit - len(filler) - 2) + '"}').encode()
    assert len(at_limit) == limit
    assert post(client, raw=at_limit).status_code == 200
    over = at_limit[:-2] + b'x"}'
    assert len(over) == limit + 1
    assert_error(post(client, raw=over), 413, "PAYLOAD_TOO_LARGE")
    assert count(app) == 1


def test_port_outside_the_allowed_list_is_422_and_nothing_stored(make_app: Any) -> None:
    app = make_app(INBOUND_PORTS="3, 17")
    client = app.test_client()
    assert_error(post(client, body_with(port=18)), 422, "PORT_NOT_ALLOWED")
    assert count(app) == 0
    assert post(client, body_with(port=3)).status_code == 200
    assert post(client, body_with(port=17, gateway_sms_id=102)).status_code == 200
    assert count(app) == 2


# --- idempotency --------------------------------------------------------------------------

def test_identical_replay_returns_same_id_and_changes_nothing(app: Any, client: Any) -> None:
    first = post(client, SEED_EXAMPLE).get_json()
    before = [(r.id, r.received_at) for r in sms_rows(app)]
    for _ in range(3):
        again = post(client, SEED_EXAMPLE)
        assert again.status_code == 200
        assert again.get_json() == first
    assert [(r.id, r.received_at) for r in sms_rows(app)] == before
    assert count(app, InboundDiscrepancy) == 0


def test_same_gateway_id_on_another_port_is_another_sms(app: Any, client: Any) -> None:
    a = post(client, SEED_EXAMPLE).get_json()["sms_id"]
    b = post(client, body_with(port=18)).get_json()["sms_id"]
    assert a != b
    assert count(app) == 2


def test_ids_written_with_a_fraction_are_kept_exactly(app: Any, client: Any) -> None:
    """A float holds whole numbers exactly only up to 2**53: 9007199254740993.0 must not
    become 9007199254740992 and turn the next SMS with that id into a 'replay'."""
    raw = json.dumps(body_with(gateway_sms_id=0)).replace('"gateway_sms_id": 0', '"gateway_sms_id": 9007199254740993.0')
    first = post(client, raw=raw.encode())
    assert first.status_code == 200, first.get_json()
    neighbour = post(client, body_with(gateway_sms_id=2**53, sender="622222222"))
    assert neighbour.status_code == 200 and neighbour.get_json()["sms_id"] != first.get_json()["sms_id"]
    assert sorted(r.gateway_sms_id for r in sms_rows(app)) == [2**53, 2**53 + 1]
    assert count(app, InboundDiscrepancy) == 0
    # 26.0 is the integer 26; a fraction, even one a float cannot hold, is not an integer
    assert post(client, raw=json.dumps(body_with(port=0)).replace('"port": 0', '"port": 18.0').encode()).status_code == 200
    for literal in ("18.5", "18.0000000000000001", "1e100"):
        bad = post(client, raw=json.dumps(body_with(port=0)).replace('"port": 0', f'"port": {literal}').encode())
        assert [d["field"] for d in assert_error(bad, 400, "VALIDATION_ERROR")["details"]] == ["port"]


def test_differing_replay_keeps_original_and_records_discrepancy(app: Any, client: Any, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="roko_app")
    first = post(client, SEED_EXAMPLE).get_json()
    changed = body_with(text="ROKO U87654321", sender="+224612345678")
    response = post(client, changed)
    assert response.status_code == 200
    assert response.get_json() == first
    (row,) = sms_rows(app)
    assert (row.text, row.sender) == ("ROKO U12345678", "612345678")
    with app.app_context():
        (noted,) = db.session.scalars(select(InboundDiscrepancy))
        assert noted.sms_id == first["sms_id"]
        assert sorted(noted.fields) == ["sender", "text"]
        assert noted.payload["text"] == "ROKO U87654321"
    assert "different sender, text" in caplog.text
    # The same differing replay again is recorded once; another difference is recorded too.
    post(client, changed)
    post(client, body_with(timestamp="2026-05-15T10:31:00Z"))
    assert count(app, InboundDiscrepancy) == 2
    assert count(app) == 1


def test_the_service_tells_new_from_replay(app: Any) -> None:
    from roko_app.services.inbound import IncomingSms, record

    incoming = IncomingSms(7, 1, "612345678", "ROKO U12345678", datetime(2026, 5, 15, tzinfo=UTC))
    with app.app_context():
        first = record(incoming, range(32))
        second = record(incoming, range(32))
        assert (first.created, second.created) == (True, False)
        assert first.sms_id == second.sms_id
        assert second.discrepancy is None
    with app.app_context():
        assert db.session.get(InboundSms, first.sms_id) is not None, "committed by record itself"
