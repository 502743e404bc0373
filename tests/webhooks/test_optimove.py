"""POST /api/v1/webhooks/optimove/campaigns (seed 001): signatures, keys, validation,
per-recipient rejections, idempotency, limits and scheduled delivery."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, OutboundSms, Participant
from roko_app.web.credentials import sign
from tests.helpers import SIM_TOKEN, assert_error

URL = "/api/v1/webhooks/optimove/campaigns"
API_KEY = "test-optimove-key"
SECRET = "test-optimove-secret"
SCHEDULED = 1780300800000  # 2026-06-01T08:00:00Z


def batch(batch_id: str = "batch-123", recipients: list[dict[str, Any]] | None = None, **metadata: Any) -> dict[str, Any]:
    return {
        "batchId": batch_id,
        "metadata": {"appId": 123, "brandId": "roko", "campaignId": "232522", "campaignType": 1, "channelId": 493,
                     "engagementId": "aaabbbccc", "isHashed": False, "scheduledTime": SCHEDULED, "tenantId": 1,
                     **metadata},
        "recipients": recipients if recipients is not None else [
            {"message": "Nano ROKO: -10% cette semaine chez votre revendeur.", "mobileNumber": "+224612345678",
             "customerId": "customer-001"},
            {"message": "Nano ROKO: -10% cette semaine chez votre revendeur.", "mobileNumber": "622334455",
             "customerId": "customer-002"},
        ],
        "requestId": "req-1",
        "senderId": "ROKO",
    }


def post(client: Any, body: Any = None, *, raw: bytes | None = None, key: str | None = API_KEY,
         signature: str | None | bool = True, algorithm: str = "sha256") -> Any:
    data = raw if raw is not None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["X-API-Key"] = key
    if signature is True:
        headers["x-hub-signature"] = sign(data, SECRET, algorithm)
    elif isinstance(signature, str):
        headers["x-hub-signature"] = signature
    return client.post(URL, data=data, headers=headers)


@pytest.fixture
def om_app(make_app: Any, simulator: Any) -> Any:
    return make_app(OPTIMOVE_API_KEY=API_KEY, OPTIMOVE_HMAC_SECRET=SECRET, TOPAZ_URL=simulator.url,
                    TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_RATE_PER_PORT=0)


@pytest.fixture
def client(om_app: Any) -> Any:
    return om_app.test_client()


def queued(app: Any) -> list[OutboundSms]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def rejections(app: Any) -> list[CampaignRejection]:
    with app.app_context():
        return list(db.session.scalars(select(CampaignRejection).order_by(CampaignRejection.position)))


# --- signatures ---------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
def test_each_algorithm_is_accepted(om_app: Any, client: Any, algorithm: str) -> None:
    assert post(client, batch(), algorithm=algorithm).status_code == 200


def test_upper_case_hex_is_accepted(client: Any) -> None:
    data = json.dumps(batch()).encode()
    algorithm, digest = sign(data, SECRET).split("=")
    assert post(client, raw=data, signature=f"{algorithm}={digest.upper()}").status_code == 200


def test_pretty_printed_body_signed_as_sent_is_accepted(client: Any) -> None:
    data = json.dumps(batch(), indent=4, ensure_ascii=False).encode()
    assert post(client, raw=data).status_code == 200


@pytest.mark.parametrize("case", ["wrong secret", "altered byte", "missing", "md5", "no equals", "empty digest",
                                  "not hex", "signed re-serialised"])
def test_bad_signatures_are_401_and_nothing_is_stored(om_app: Any, client: Any, case: str, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, logger="roko_app")
    data = json.dumps(batch(), indent=2).encode()
    good = sign(data, SECRET)
    signature: str | None = {
        "wrong secret": sign(data, "another-secret"),
        "altered byte": good,
        "missing": None,
        "md5": "md5=" + hashlib.md5(data).hexdigest(),  # noqa: S324
        "no equals": good.replace("=", ""),
        "empty digest": "sha256=",
        "not hex": "sha256=" + "z" * 64,
        "signed re-serialised": sign(json.dumps(batch(), separators=(",", ":")).encode(), SECRET),
    }[case]
    if case == "altered byte":
        data = data.replace(b"batch-123", b"batch-124")
    response = post(client, raw=data, signature=signature)
    assert_error(response, 401, "INVALID_SIGNATURE")
    assert queued(om_app) == []
    assert SECRET not in caplog.text and "auth failures" in caplog.text


@pytest.mark.parametrize("key", [None, "", "wrong-key", API_KEY + "x"])
def test_missing_or_wrong_api_key_is_401(om_app: Any, client: Any, key: str | None) -> None:
    assert_error(post(client, batch(), key=key), 401, "INVALID_API_KEY")
    assert queued(om_app) == []


def test_api_key_is_checked_before_the_signature(client: Any) -> None:
    assert_error(post(client, batch(), key="wrong", signature="md5=00"), 401, "INVALID_API_KEY")


# --- validation ---------------------------------------------------------------------------

@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.pop("metadata"), "metadata"),
    (lambda b: b.__setitem__("metadata", []), "metadata"),
    (lambda b: b["metadata"].pop("scheduledTime"), "metadata.scheduledTime"),
    (lambda b: b["metadata"].__setitem__("scheduledTime", "soon"), "metadata.scheduledTime"),
    (lambda b: b["metadata"].__setitem__("scheduledTime", 1.5), "metadata.scheduledTime"),
    (lambda b: b["metadata"].__setitem__("scheduledTime", True), "metadata.scheduledTime"),
    (lambda b: b["metadata"].__setitem__("appId", "123"), "metadata.appId"),
    (lambda b: b["metadata"].__setitem__("isHashed", "yes"), "metadata.isHashed"),
    (lambda b: b["metadata"].__setitem__("campaignId", 232522), "metadata.campaignId"),
    (lambda b: b.__setitem__("recipients", {"a": 1}), "recipients"),
    (lambda b: b.__setitem__("recipients", ["612345678"]), "recipients[0]"),
    (lambda b: b["recipients"][1].__setitem__("mobileNumber", 622334455), "recipients[1].mobileNumber"),
    (lambda b: b.__setitem__("batchId", 7), "batchId"),
])
def test_missing_fields_and_wrong_types_are_400(om_app: Any, client: Any, mutate: Any, field: str) -> None:
    body = batch()
    mutate(body)
    response = post(client, body)
    result = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in result["details"]]
    assert queued(om_app) == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b"null"])
def test_malformed_json_is_400(client: Any, raw: bytes) -> None:
    assert_error(post(client, raw=raw), 400, "MALFORMED_JSON")


def test_scheduled_time_as_a_numeric_string_is_tolerated(om_app: Any, client: Any) -> None:
    assert post(client, batch(scheduledTime=str(SCHEDULED))).status_code == 200


# --- intake -------------------------------------------------------------------------------

def test_batch_is_queued_with_metadata_kept_verbatim(om_app: Any, client: Any) -> None:
    with freeze_time("2026-05-31T12:00:00Z"):
        response = post(client, batch())
    assert response.status_code == 200
    body = response.get_json()
    assert body["batchId"] == "batch-123" and body["accepted"] == 2 and body["rejected"] == 0
    assert body["message"] and body["processedAt"].startswith("2026-05-31T12:00:00")
    rows = queued(om_app)
    assert [r.to_msisdn for r in rows] == ["612345678", "622334455"]
    assert {r.status for r in rows} == {"QUEUED"} and {r.caller for r in rows} == {"optimove"}
    assert rows[0].not_before == datetime(2026, 6, 1, 8, tzinfo=UTC)
    assert rows[0].customer_id == "customer-001" and rows[0].priority < rows[0].__class__.priority.default.arg
    with om_app.app_context():
        (stored,) = db.session.scalars(select(CampaignBatch))
        assert stored.meta == batch()["metadata"]
        assert (stored.request_id, stored.sender_id, stored.campaign_id) == ("req-1", "ROKO", "232522")


def test_the_sample_test_request_variant_is_accepted(om_app: Any, client: Any) -> None:
    sample = {
        "batchId": "test-batch-123", "engagementId": "test-engagement-456",
        "metadata": {"campaignId": "test-campaign", "numberOfCustomers": 1, "numberOfDroppedCustomers": 0,
                     "region": "US", "senderId": "test-sender"},
        "recipients": [{"content": {"message": "Test message"}, "mobileNumber": "+224612345678",
                        "customerId": "test-customer"}],
        "scheduledTime": 1704106200000,
    }
    response = post(client, sample)
    assert response.status_code == 200, response.get_json()
    (row,) = queued(om_app)
    assert row.text == "Test message" and row.to_msisdn == "612345678"
    assert row.not_before is None, "a past scheduledTime means now"


def test_empty_recipients_is_accepted_with_nothing_queued(om_app: Any, client: Any) -> None:
    response = post(client, batch(recipients=[]))
    assert response.status_code == 200 and response.get_json()["accepted"] == 0
    assert queued(om_app) == []


def test_bad_recipients_are_rejected_with_reasons_while_the_rest_goes_ahead(om_app: Any, client: Any) -> None:
    with om_app.app_context():
        db.session.add(Participant(msisdn="633445566", opted_out_at=datetime(2026, 5, 1, tzinfo=UTC)))
        db.session.commit()
    recipients = [
        {"message": "ok", "mobileNumber": "612345678", "customerId": "c0"},
        {"message": "ok", "mobileNumber": "+33612345678", "customerId": "c1"},
        {"mobileNumber": "612345679", "customerId": "c2"},
        {"message": "x" * 161, "mobileNumber": "612345670", "customerId": "c3"},
        {"message": "ok", "mobileNumber": "633445566", "customerId": "c4"},
        {"message": "  ", "mobileNumber": "612345671", "customerId": "c5"},
        {"message": "ok", "customerId": "c6"},
    ]
    body = post(client, batch(recipients=recipients)).get_json()
    assert (body["accepted"], body["rejected"]) == (1, 6)
    reasons = [(r.position, r.reason, r.customer_id) for r in rejections(om_app)]
    assert reasons == [(1, "INVALID_NUMBER", "c1"), (2, "MISSING_MESSAGE", "c2"), (3, "TEXT_TOO_LONG", "c3"),
                       (4, "OPTED_OUT", "c4"), (5, "EMPTY_MESSAGE", "c5"), (6, "INVALID_NUMBER", "c6")]
    # each refusal's detail in machine form too, for the console's own words
    assert [r.params for r in rejections(om_app)] == [
        {"problem": "not_guinea"}, None, {"units": 161, "encoding": "GSM-7", "limit": 160}, None, None,
        {"problem": "missing"}]


def test_no_deliverable_recipient_is_422(om_app: Any, client: Any) -> None:
    response = post(client, batch(recipients=[{"message": "ok", "mobileNumber": "12"}]))
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "NO_DELIVERABLE_RECIPIENT" and body["rejected"] == 1 and body["error"]


def test_special_characters_survive_byte_for_byte(om_app: Any, client: Any, simulator: Any) -> None:
    text = "Café « spécial » {ok} [x] ~ | \\ € ’ 🎉 ç"
    with freeze_time("2026-06-01T08:00:01Z"):
        assert post(client, batch(recipients=[{"message": text, "mobileNumber": "612345678"}])).status_code == 200
    (row,) = queued(om_app)
    assert row.text == text and row.encoding == "UCS-2"
    from roko_app.worker import Worker

    with freeze_time("2026-06-01T08:00:01Z"), om_app.app_context():
        Worker.from_app(om_app).run(once=True)
    assert simulator.sent()[0]["text"].encode("utf-8") == text.encode("utf-8")


def test_hashed_numbers_are_resolved_against_known_farmers(om_app: Any, client: Any) -> None:
    with om_app.app_context():
        db.session.add(Participant(msisdn="612345678"))
        db.session.commit()
    known = hashlib.sha256(b"612345678").hexdigest()
    unknown = hashlib.sha256(b"699999999").hexdigest()
    body = post(client, batch(isHashed=True, recipients=[
        {"message": "ok", "mobileNumber": known.upper(), "customerId": "a"},
        {"message": "ok", "mobileNumber": unknown, "customerId": "b"},
    ])).get_json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert queued(om_app)[0].to_msisdn == "612345678"
    assert rejections(om_app)[0].reason == "UNRESOLVED_HASH"


# --- idempotency ----------------------------------------------------------------------------

def test_replay_returns_the_same_result_and_queues_nothing_more(om_app: Any, client: Any) -> None:
    first = post(client, batch()).get_json()
    again = post(client, batch())
    assert again.status_code == 200
    replay = again.get_json()
    assert {k: replay[k] for k in ("batchId", "accepted", "rejected", "processedAt")} == \
        {k: first[k] for k in ("batchId", "accepted", "rejected", "processedAt")}
    assert len(queued(om_app)) == 2


def test_same_id_with_a_different_body_is_409(om_app: Any, client: Any) -> None:
    post(client, batch())
    assert_error(post(client, batch(recipients=[{"message": "autre", "mobileNumber": "612345678"}])),
                 409, "BATCH_CONFLICT")
    assert len(queued(om_app)) == 2


def test_empty_batch_id_falls_back_to_request_id_then_engagement_id(om_app: Any, client: Any) -> None:
    auto_reply = batch(batch_id="", brandId="", campaignId="")
    assert post(client, auto_reply).status_code == 200
    assert post(client, auto_reply).get_json()["accepted"] == 2
    assert len(queued(om_app)) == 2
    without_request = batch(batch_id="")
    without_request.pop("requestId")
    post(client, without_request)
    with om_app.app_context():
        keys = sorted(db.session.scalars(select(CampaignBatch.batch_key)))
    assert keys == ["engagement:aaabbbccc", "request:req-1"]


# --- limits ---------------------------------------------------------------------------------

def test_body_over_the_limit_is_413(make_app: Any) -> None:
    app = make_app(OPTIMOVE_API_KEY=API_KEY, OPTIMOVE_HMAC_SECRET=SECRET, OPTIMOVE_MAX_BODY=2048)
    small = json.dumps(batch()).encode()
    assert post(app.test_client(), raw=small).status_code == 200
    big = json.dumps(batch(batch_id="big", recipients=[{"message": "x" * 100, "mobileNumber": "612345678"}] * 30))
    assert_error(post(app.test_client(), raw=big.encode()), 413, "PAYLOAD_TOO_LARGE")


def test_rate_limit_is_429_with_retry_after(make_app: Any) -> None:
    app = make_app(OPTIMOVE_API_KEY=API_KEY, OPTIMOVE_HMAC_SECRET=SECRET, OPTIMOVE_RATE_LIMIT="2/minute")
    client = app.test_client()
    assert [post(client, batch(batch_id=f"b{i}")).status_code for i in range(2)] == [200, 200]
    response = post(client, batch(batch_id="b3"))
    assert_error(response, 429, "RATE_LIMITED")
    assert int(response.headers["Retry-After"]) > 0


# --- scheduled delivery -------------------------------------------------------------------------

def test_nothing_is_sent_before_scheduled_time_and_everything_after(om_app: Any, client: Any, simulator: Any) -> None:
    from roko_app.worker import Worker

    with freeze_time("2026-06-01T07:00:00Z"):
        assert post(client, batch()).status_code == 200
    with freeze_time("2026-06-01T07:59:59Z"), om_app.app_context():
        Worker.from_app(om_app).run(once=True)
    assert simulator.sent() == []
    with freeze_time("2026-06-01T08:00:00Z"), om_app.app_context():
        Worker.from_app(om_app).run(once=True)
    assert sorted(m["to"] for m in simulator.sent()) == ["612345678", "622334455"]


def test_a_10000_recipient_batch_end_to_end(om_app: Any, client: Any, simulator: Any) -> None:
    from roko_app.worker import Worker

    recipients = [{"message": f"Promo ROKO n°{i}", "mobileNumber": f"62{i:07d}", "customerId": f"c{i}"}
                  for i in range(10_000)]
    with freeze_time("2026-06-01T08:00:00Z"):
        body = post(client, batch(recipients=recipients)).get_json()
        assert body["accepted"] == 10_000
        with om_app.app_context():
            Worker.from_app(om_app, batch_size=200).run(once=True)
    sent = simulator.sent()
    assert len(sent) == 10_000 and len({m["client_ref"] for m in sent}) == 10_000
    with om_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboundSms)
                                 .where(OutboundSms.status == "SENT")) == 10_000


def test_cancel_withdraws_unsent_messages(om_app: Any, client: Any) -> None:
    from roko_app.reads.campaigns import batch_summary
    from roko_app.services import campaigns

    post(client, batch())
    with om_app.app_context():
        (stored,) = db.session.scalars(select(CampaignBatch))
        assert campaigns.cancel(stored.id, by="op@roko") == 2
        db.session.commit()
        summary = batch_summary(stored.id)
        assert summary.counts == {"CANCELLED": 2} and not summary.cancellable


def test_concurrent_replays_queue_the_batch_once(live_server: Any, app: Any) -> None:
    """Through a real gunicorn server, on the suite's database (PostgreSQL in that run)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    url = live_server(workers=3, threads=8, ROKO_OPTIMOVE_API_KEY=API_KEY, ROKO_OPTIMOVE_HMAC_SECRET=SECRET)
    data = json.dumps(batch(recipients=[{"message": "ok", "mobileNumber": f"62{i:07d}"} for i in range(200)])).encode()
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY, "x-hub-signature": sign(data, SECRET)}
    barrier = threading.Barrier(16)

    def one(_: int) -> requests.Response:
        with requests.Session() as session:
            session.get(url + "/healthz", timeout=10)
            barrier.wait(timeout=30)
            return session.post(url + URL, data=data, headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(one, range(16)))
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses if r.status_code != 200]
    assert {(r.json()["accepted"], r.json()["processedAt"]) for r in responses} == {(200, responses[0].json()["processedAt"])}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CampaignBatch)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboundSms)) == 200


# --- identifiers longer than their columns (issue 12, item 9) -------------------------------

ID_PLACES = [  # (where, its column's length)
    (("batchId",), 200),
    (("requestId",), 200),
    (("engagementId",), 200),
    (("senderId",), 64),
    (("metadata", "campaignId"), 200),
    (("metadata", "engagementId"), 200),
    (("recipients", 0, "customerId"), 200),
]


def with_id(place: tuple[Any, ...], value: str) -> dict[str, Any]:
    body = batch()
    if place == ("engagementId",):  # the top-level position counts only without metadata's
        body["metadata"].pop("engagementId")
    node: Any = body
    for step in place[:-1]:
        node = node[step]
    node[place[-1]] = value
    return body


@pytest.mark.parametrize(("place", "length"), ID_PLACES, ids=[".".join(map(str, p)) for p, _ in ID_PLACES])
def test_ids_longer_than_their_column_are_refused_not_cut(om_app: Any, client: Any, place: tuple[Any, ...],
                                                          length: int) -> None:
    body = assert_error(post(client, with_id(place, "x" * length + "1")), 400, "VALIDATION_ERROR")
    field = ".".join(str(p) for p in place).replace(".0.", "[0].")
    assert [d["field"] for d in body["details"]] == [field]
    with om_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CampaignBatch)) == 0


@pytest.mark.parametrize(("place", "length"), ID_PLACES, ids=[".".join(map(str, p)) for p, _ in ID_PLACES])
def test_ids_as_long_as_their_column_are_stored_whole(om_app: Any, client: Any, place: tuple[Any, ...],
                                                      length: int) -> None:
    value = "x" * (length - 1) + "1"
    assert post(client, with_id(place, value)).status_code == 200
    with om_app.app_context():
        stored = db.session.scalars(select(CampaignBatch)).one()
        columns = {"batchId": stored.batch_id, "requestId": stored.request_id, "senderId": stored.sender_id,
                   "campaignId": stored.campaign_id, "engagementId": stored.engagement_id}
        if place[-1] == "customerId":
            assert [m.customer_id for m in db.session.scalars(select(OutboundSms))][0] == value
        else:
            assert columns[place[-1]] == value

