"""``POST /api/v1/sms/send``: send one single-segment SMS to a Guinea number, now."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app, request

from roko_app.api.auth import api_key_identity, current_api_key, require_api_key
from roko_app.extensions import db, limiter
from roko_app.gateway.topaz import SendResult
from roko_app.models import OutboundSms, OutboundStatus
from roko_app.services import outbound
from roko_app.web.errors import ApiError, FieldProblem
from roko_app.web.validation import Fields, read_json_object
from roko_app.worker.throttle import Pacer, ThrottleUnavailable, pacer_from_config

bp = Blueprint("api", __name__, url_prefix="/api/v1")

MAX_BODY = 16 * 1024
#: The longest a request waits for its SIM port's next send slot (TOPAZ_RATE_PER_PORT,
#: shared with the worker through Redis); a later slot leaves the message to the worker.
PORT_WAIT_MAX = 0.5


def _send_limit() -> str:
    return current_app.config["SEND_RATE_LIMIT"]


@bp.post("/sms/send")
@require_api_key
@limiter.limit(_send_limit, key_func=api_key_identity)
def send_sms() -> tuple[dict[str, Any], int]:
    fields = Fields(read_json_object(request, MAX_BODY))
    phone_number = fields.string("phone_number", min_length=1, max_length=32)
    text = fields.string("text", min_length=1)  # any length: one that is not one SMS is TEXT_TOO_LONG below
    template_key = fields.string("template_key", max_length=30, required=False)
    fields.raise_if_any()
    config = current_app.config
    try:
        message = outbound.queue_message(
            phone_number=phone_number, text=text, template_key=template_key,  # type: ignore[arg-type]
            caller=current_api_key().name, port=config["TOPAZ_SEND_PORT"],
        )
    except outbound.InvalidMsisdn as exc:
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid phone_number: {exc}",
                       [FieldProblem("phone_number", str(exc))]) from None
    except outbound.OptedOut as exc:
        raise ApiError(422, exc.code, "The number opted out (it sent STOP); it only gets answers to its own SMS "
                                      "and winner notices.") from None
    except outbound.EmptyText as exc:
        raise ApiError(400, "VALIDATION_ERROR", exc.message, [FieldProblem("text", exc.message)]) from None
    except outbound.TextDoesNotFit as exc:
        info = exc.info
        raise ApiError(400, exc.code, exc.message, [FieldProblem("text", exc.message)],
                       extra={"encoding": info.encoding, "units": info.units, "limit": info.limit,
                              "segments": info.segments, "offending": list(info.offending)}) from None
    wait = _port_slot(config["TOPAZ_SEND_PORT"])
    if wait is None:
        db.session.commit()  # QUEUED and due now: the worker sends it in the port's turn
        return {"sms_id": message.id, "status": message.status, "gateway_sms_id": None,
                "reason": "the SIM port is busy (one SMS per slot); queued for the worker"}, 202
    time.sleep(wait)
    policy = outbound.RetryPolicy.from_config(config)
    outbound.start_attempt(message, policy)
    db.session.commit()  # the row is durable before the gateway is called
    result = outbound.deliver(message, current_app.extensions["topaz"], policy)
    db.session.commit()
    return _send_response(message, result)


def _port_slot(port: int) -> float | None:
    """Seconds to wait for ``port``'s send slot, or None when it is further than
    :data:`PORT_WAIT_MAX` away or the shared throttle cannot be reached (the worker then
    sends the message, paced like every other). The slot is reserved either way."""
    pacer: Pacer | None = current_app.extensions.get("roko_pacer")
    if pacer is None:
        pacer = current_app.extensions["roko_pacer"] = pacer_from_config(current_app.config)
    try:
        wait = pacer.reserve(port)
    except ThrottleUnavailable:
        return None
    return wait if wait <= PORT_WAIT_MAX else None


def _send_response(message: OutboundSms, result: SendResult) -> tuple[dict[str, Any], int]:
    body: dict[str, Any] = {"sms_id": message.id, "status": message.status,
                            "gateway_sms_id": message.gateway_sms_id, "reason": None}
    if result.is_sent:
        return body, 200
    if result.is_rejected:
        body.update(error="Unprocessable Entity", code="GATEWAY_REJECTED", reason=result.reason,
                    message=f"The gateway rejected the message: {result.reason}")
        return body, 422
    if message.status == OutboundStatus.QUEUED:
        body["reason"] = f"gateway unavailable ({result.reason}); queued for retry"
        return body, 202
    # A transient failure with no attempt left (SEND_MAX_ATTEMPTS=1): the dead letter.
    body.update(error="Service Unavailable", code="GATEWAY_UNAVAILABLE", reason=result.reason,
                message=f"The gateway is unavailable and no retry is left: {result.reason}")
    return body, 503
