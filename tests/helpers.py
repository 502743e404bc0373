"""Request helpers shared by the tests: reading what a page links to; calling the JSON
APIs with valid credentials and checking their answers."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, InboundDiscrepancy, InboundSms, OutboundSms
from roko_app.web.credentials import sign
from tests.conftest import SIM_TOKEN, WEBHOOK_TOKEN


def pager_link(html: str, rel: str) -> str | None:
    """The URL of the pager's ``rel="next"`` (older) or ``rel="prev"`` (newer) link, if any."""
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


# --- the three JSON APIs, with valid credentials ------------------------------------------

INBOUND_URL = "/api/v1/webhooks/topaz/inbound"
SEND_URL = "/api/v1/sms/send"
OPTIMOVE_URL = "/api/v1/webhooks/optimove/campaigns"
OPTIMOVE_KEY = "test-optimove-key"
OPTIMOVE_SECRET = "test-optimove-secret"  # noqa: S105 (tests only)
JSON_APIS = ("inbound", "send", "optimove")
#: A valid body of each API (the seeds' examples, the Optimove numbers made Guinean).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "inbound": {"gateway_sms_id": 101, "port": 17, "sender": "612345678", "text": "ROKO U12345678",
                "timestamp": "2026-05-15T10:30:00Z", "source": "topaz"},
    "send": {"phone_number": "612345678", "text": "Merci pour votre participation ROKO.",
             "template_key": "VALID_FIRST"},
    "optimove": {"batchId": "batch-123",
                 "metadata": {"appId": 123, "brandId": "roko", "campaignId": "232522", "campaignType": 1,
                              "channelId": 493, "engagementId": "aaabbbccc", "isHashed": False,
                              "scheduledTime": 1704106200000, "tenantId": 1},
                 "recipients": [{"message": "Hello! Your order is ready for pickup.",
                                 "mobileNumber": "+224612345678", "customerId": "customer-001"}]},
}


def api_config(simulator_url: str) -> dict[str, Any]:
    """``make_app`` overrides under which all three APIs work: the gateway simulator
    (``tests.conftest.SIM_TOKEN``), Optimove's key and secret, no throttle."""
    return {"TOPAZ_URL": simulator_url, "TOPAZ_TOKEN": SIM_TOKEN, "TOPAZ_CONNECT_TIMEOUT": 0.5,
            "TOPAZ_READ_TIMEOUT": 0.5, "OPTIMOVE_API_KEY": OPTIMOVE_KEY, "OPTIMOVE_HMAC_SECRET": OPTIMOVE_SECRET,
            "TOPAZ_RATE_PER_PORT": 0, "SEND_RATE_LIMIT": "100000/minute", "OPTIMOVE_RATE_LIMIT": "100000/minute"}


def post_raw(client: Any, api: str, raw: bytes, *, api_key: str,
             content_type: str = "application/json") -> Any:
    """POST ``raw`` to one of ``JSON_APIS`` with valid credentials (Optimove's signed
    over these very bytes)."""
    headers = {"Content-Type": content_type}
    if api == "inbound":
        url, headers["X-Roko-Webhook-Token"] = INBOUND_URL, WEBHOOK_TOKEN
    elif api == "send":
        url, headers["x-api-key"] = SEND_URL, api_key
    else:
        url = OPTIMOVE_URL
        headers.update({"X-API-Key": OPTIMOVE_KEY, "x-hub-signature": sign(raw, OPTIMOVE_SECRET)})
    return client.post(url, data=raw, headers=headers)


def stored_rows(app: Any) -> dict[str, int]:
    """How many rows each table the JSON APIs write holds."""
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (InboundSms, InboundDiscrepancy, OutboundSms, CampaignBatch, CampaignRejection)}


def assert_documented_error(response: Any, status: int | None = None, code: str | None = None) -> dict[str, Any]:
    """A JSON error in the documented shape (``details`` entries are ``{field, problem}``
    strings); checks the status and code when given; returns the body."""
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and {"error", "message", "code"} <= set(body), body
    assert all(isinstance(body[name], str) and body[name] for name in ("error", "message", "code")), body
    if code is not None:
        assert body["code"] == code, body
    for detail in body.get("details", []):
        assert set(detail) == {"field", "problem"} and all(isinstance(v, str) for v in detail.values()), body
    return body

