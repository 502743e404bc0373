"""``POST /api/v1/webhooks/topaz/inbound``: the Topaz gateway posts every SMS it receives."""

from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, request

from roko_app.services import inbound
from roko_app.services.errors import PortNotAllowed
from roko_app.web import metrics
from roko_app.web.credentials import token_matches
from roko_app.web.errors import ApiError
from roko_app.web.validation import Fields, read_json_object

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/webhooks")

SENDER_PATTERN = re.compile(r"^[0-9+]{6,20}$")


@bp.post("/topaz/inbound")
@metrics.count_inbound
def topaz_inbound() -> tuple[dict[str, object], int]:
    require_webhook_token()
    incoming = _parse_inbound(read_json_object(request, current_app.config["INBOUND_MAX_BODY"]))
    try:
        result = inbound.record(incoming, current_app.config["INBOUND_PORTS"])  # stored and committed
    except PortNotAllowed as exc:
        raise ApiError(422, exc.code, exc.message) from None
    metrics.inbound_recorded(result.created)
    return {"status": "accepted", "sms_id": result.sms_id}, 200


def require_webhook_token() -> None:
    """The gateway's webhooks (inbound SMS, delivery reports) share one token."""
    presented = request.headers.get("X-Roko-Webhook-Token")
    if not token_matches(presented, current_app.config["WEBHOOK_INBOUND_TOKEN"]):
        log.warning(
            "%s webhook rejected: %s token from %s", request.endpoint,
            "missing" if not presented else "invalid", request.remote_addr,
        )
        raise ApiError(401, "INVALID_WEBHOOK_TOKEN", "Missing or invalid X-Roko-Webhook-Token.")


def _parse_inbound(body: dict[str, object]) -> inbound.IncomingSms:
    fields = Fields(body)
    gateway_sms_id = fields.integer("gateway_sms_id", minimum=0)
    port = fields.integer("port", minimum=0, maximum=31)
    sender = fields.string("sender", pattern=SENDER_PATTERN)
    text = fields.string("text", min_length=1, max_length=1600)
    timestamp = fields.datetime("timestamp")
    source = fields.string("source", max_length=30, required=False, default="topaz")
    fields.raise_if_any()
    return inbound.IncomingSms(gateway_sms_id, port, sender, text, timestamp, source)  # type: ignore[arg-type]
