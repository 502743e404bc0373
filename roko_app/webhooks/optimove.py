"""``POST /api/v1/webhooks/optimove/campaigns``: Optimove's signed campaign batches.

Checks, in order: ``X-API-Key`` (401 ``INVALID_API_KEY``), body size (413), the
``x-hub-signature`` HMAC of the raw body bytes (401 ``INVALID_SIGNATURE``, before any
parsing), the per-key rate limit (429), then the JSON shape (400). Both the seed's
documented body and its "Sample Test Request" variant are accepted.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app, request

from roko_app.extensions import db, limiter
from roko_app.services import campaigns
from roko_app.web import metrics
from roko_app.web.credentials import signature_problem, token_matches
from roko_app.web.errors import ApiError, FieldProblem
from roko_app.web.validation import integral, read_body, read_json_object
from roko_app.webhooks.routes import bp

log = logging.getLogger(__name__)

_auth_failures = 0
_auth_failures_lock = threading.Lock()


def auth_failure_count() -> int:
    """Authentication failures seen by this process (also in each failure's log line)."""
    return _auth_failures


def _refuse(code: str, why: str) -> ApiError:
    global _auth_failures
    with _auth_failures_lock:
        _auth_failures += 1
        count = _auth_failures
    log.warning("optimove webhook rejected (%s): %s from %s [auth failures: %s]", code, why, request.remote_addr, count)
    metrics.optimove_auth_failure(code)
    message = "Missing or invalid X-API-Key." if code == "INVALID_API_KEY" else f"Invalid x-hub-signature: {why}."
    return ApiError(401, code, message)


def _authenticate() -> None:
    config = current_app.config
    if not token_matches(request.headers.get("X-API-Key"), config["OPTIMOVE_API_KEY"]):
        raise _refuse("INVALID_API_KEY", "missing" if not request.headers.get("X-API-Key") else "wrong key")
    raw = read_body(request, int(config["OPTIMOVE_MAX_BODY"]))  # 413 past the limit
    problem = signature_problem(request.headers.get("x-hub-signature"), raw, config["OPTIMOVE_HMAC_SECRET"])
    if problem:
        raise _refuse("INVALID_SIGNATURE", problem)


def _rate_limit() -> str:
    return current_app.config["OPTIMOVE_RATE_LIMIT"]


def _key_identity() -> str:
    return "optimove:" + hashlib.sha256(request.headers.get("X-API-Key", "").encode()).hexdigest()[:16]


def _authenticated(view: Any) -> Any:
    @functools.wraps(view)
    def wrapper() -> Any:
        _authenticate()
        return view()

    return wrapper


@bp.post("/optimove/campaigns")
@_authenticated
@limiter.limit(_rate_limit, key_func=_key_identity)
@metrics.count_optimove_errors
def optimove_campaigns() -> tuple[dict[str, Any], int]:
    body = read_json_object(request, int(current_app.config["OPTIMOVE_MAX_BODY"]))
    batch_request = parse_batch(body)
    config = current_app.config
    try:
        result = campaigns.accept(batch_request, campaigns.IntakeSettings(
            port=int(config["TOPAZ_SEND_PORT"]), hash_algorithm=config["OPTIMOVE_HASH_ALGORITHM"]))
    except campaigns.BatchConflict as exc:
        raise ApiError(409, exc.code, exc.message) from None
    batch = result.batch
    db.session.commit()
    if result.replay:
        metrics.optimove_batch("replay")
    else:
        metrics.optimove_batch("accepted" if result.deliverable else "undeliverable", batch.accepted,
                               result.rejected_by_reason)
    response = {
        "message": "Batch replayed; nothing more queued" if result.replay else "Batch accepted",
        "processedAt": batch.received_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "batchId": batch.batch_id,
        "accepted": batch.accepted,
        "rejected": batch.rejected,
        "scheduledTime": (batch.scheduled_at - _EPOCH) // _MILLISECOND,
    }
    if not result.deliverable:
        return {**response, "error": "Unprocessable Entity", "code": "NO_DELIVERABLE_RECIPIENT",
                "message": "Not a single recipient of the batch can be sent to; see the console for reasons."}, 422
    return response, 200


# --- the body ---------------------------------------------------------------------------------

_METADATA_TYPES: dict[str, type | tuple[type, ...]] = {
    "appId": int, "brandId": str, "campaignId": str, "campaignType": int, "channelId": int,
    "engagementId": str, "isHashed": bool, "tenantId": int,
}
# Longest value of each identifier stored in a column of its own (the columns' lengths):
# a longer one is refused, never cut, since a cut id could collide with another batch's.
ID_LENGTHS = {"batchId": 200, "requestId": 200, "engagementId": 200, "senderId": 64}
METADATA_ID_LENGTHS = {"campaignId": 200, "engagementId": 200}
CUSTOMER_ID_LENGTH = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# The latest scheduledTime: the largest number of 14 digits (year 5138), so that the
# limit reads the same for numbers and for strings of digits (openapi.yaml says both).
MAX_EPOCH_MS = 10**14 - 1


def parse_batch(body: dict[str, Any]) -> campaigns.BatchRequest:
    problems: list[FieldProblem] = []
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        problems.append(FieldProblem("metadata", "is required and must be an object"))
        metadata = {}
    for name, kind in _METADATA_TYPES.items():
        value = metadata.get(name)
        if value is not None and not _is(value, kind):
            problems.append(FieldProblem(f"metadata.{name}", f"must be {_kind_name(kind)}"))
        elif isinstance(value, str) and len(value) > METADATA_ID_LENGTHS.get(name, len(value)):
            problems.append(FieldProblem(f"metadata.{name}", f"must have at most {METADATA_ID_LENGTHS[name]} characters"))
    # The seed's sample puts scheduledTime at the top level: used when metadata has none.
    scheduled_at = None
    if "scheduledTime" in body:
        scheduled_at = _epoch_ms(body["scheduledTime"], "scheduledTime", problems)
    if "scheduledTime" in metadata:
        scheduled_at = _epoch_ms(metadata["scheduledTime"], "metadata.scheduledTime", problems)
    elif "scheduledTime" not in body:
        problems.append(FieldProblem("metadata.scheduledTime", "is required (Unix time in milliseconds)"))
    strings = {}
    for name, length in ID_LENGTHS.items():
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(FieldProblem(name, "must be a string"))
        elif value is not None and len(value) > length:
            problems.append(FieldProblem(name, f"must have at most {length} characters"))
        strings[name] = value if isinstance(value, str) else None
    recipients_raw = body.get("recipients", [])
    if recipients_raw is None:
        recipients_raw = []
    if not isinstance(recipients_raw, list):
        problems.append(FieldProblem("recipients", "must be an array"))
        recipients_raw = []
    recipients = []
    for position, item in enumerate(recipients_raw):
        if not isinstance(item, dict):
            problems.append(FieldProblem(f"recipients[{position}]", "must be an object"))
            continue
        recipients.append(_recipient(position, item, problems))
    if problems:
        names = ", ".join(dict.fromkeys(p.field for p in problems[:5]))
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid batch: check {names}.", problems[:50])
    engagement = metadata.get("engagementId") or strings["engagementId"]
    return campaigns.BatchRequest(
        batch_id=strings["batchId"] or "", request_id=strings["requestId"] or None, engagement_id=engagement or None,
        campaign_id=metadata.get("campaignId") or None, sender_id=strings["senderId"] or None,
        scheduled_at=scheduled_at, is_hashed=bool(metadata.get("isHashed")),  # type: ignore[arg-type]
        metadata=metadata, recipients=recipients,
        body_hash=hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
    )


def _recipient(position: int, item: dict[str, Any], problems: list[FieldProblem]) -> campaigns.Recipient:
    message = item.get("message")
    content = item.get("content")
    if content is not None and not isinstance(content, dict):
        problems.append(FieldProblem(f"recipients[{position}].content", "must be an object"))
    elif message is None and content is not None:  # the sample's recipients[].content.message
        message = content.get("message")
    number, customer = item.get("mobileNumber"), item.get("customerId")
    if (type(number) is str and type(message) is str and type(customer) is str
            and len(customer) <= CUSTOMER_ID_LENGTH):  # the usual case, quickly
        return campaigns.Recipient(position, number, message, customer)
    values = {"mobileNumber": number, "message": message, "customerId": customer}
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            problems.append(FieldProblem(f"recipients[{position}].{name}", "must be a string"))
    if isinstance(customer, str) and len(customer) > CUSTOMER_ID_LENGTH:
        problems.append(FieldProblem(f"recipients[{position}].customerId",
                                     f"must have at most {CUSTOMER_ID_LENGTH} characters"))
    return campaigns.Recipient(position=position, mobile_number=_str(values["mobileNumber"]),
                               message=_str(values["message"]), customer_id=_str(values["customerId"]))


def _epoch_ms(value: Any, field: str, problems: list[FieldProblem]) -> datetime | None:
    """Unix time in ms: a JSON integer, or a string of ASCII digits (tolerated); never
    other digits (full-width, Arabic-Indic, superscripts), signs or spaces."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()):
            problems.append(FieldProblem(field, "must be a non-negative integer (Unix time in ms)"))
            return None
        if len(value) > len(str(MAX_EPOCH_MS)):
            problems.append(FieldProblem(field, f"must be at most {MAX_EPOCH_MS}"))
            return None
        value = int(value)
    milliseconds = integral(value)
    if milliseconds is None or milliseconds < 0:
        problems.append(FieldProblem(field, "must be a non-negative integer (Unix time in ms)"))
        return None
    if milliseconds > MAX_EPOCH_MS:
        problems.append(FieldProblem(field, f"must be at most {MAX_EPOCH_MS}"))
        return None
    return _EPOCH + timedelta(milliseconds=milliseconds)


def _is(value: Any, kind: type | tuple[type, ...]) -> bool:
    if kind is int:
        return integral(value) is not None
    return isinstance(value, kind)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return {int: "an integer", str: "a string", bool: "a boolean"}.get(kind, "valid")  # type: ignore[call-overload]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
