"""``POST /api/v1/webhooks/topaz/status``: the Topaz gateway's delivery reports (one, or a batch).

The contract is ``docs/topaz-gateway.md`` §4: the inbound webhook's token, a report
``{"client_ref", "gateway_sms_id", "status", "at", "reason"}`` or ``{"reports": [...]}``
of at most ``DLR_MAX_REPORTS``; all valid or none applied (400).
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, request

from roko_app import metrics
from roko_app.extensions import db
from roko_app.services import delivery
from roko_app.web.errors import ApiError, FieldProblem
from roko_app.web.validation import Fields, read_json_object
from roko_app.webhooks.routes import bp, require_webhook_token

MAX_CLIENT_REF_CHARS = 64
MAX_REASON_CHARS = 1000  # accepted; the first 200 characters are kept
REPORT_FIELDS = ("client_ref", "gateway_sms_id", "status", "at", "reason")
_STATUS = re.compile("|".join(delivery.REPORT_STATUSES))


@bp.post("/topaz/status")
def topaz_status() -> tuple[dict[str, Any], int]:
    require_webhook_token()
    config = current_app.config
    body = read_json_object(request, int(config["DLR_MAX_BODY"]))
    reports = parse_reports(body, int(config["DLR_MAX_REPORTS"]))
    result = delivery.apply_reports(reports)
    db.session.commit()
    for (status, outcome), count in result.counts.items():
        metrics.DELIVERY_REPORTS.labels(status, outcome).inc(count)
    return {"status": "ok", "received": result.received, "applied": result.applied, "unknown": result.unknown}, 200


def parse_reports(body: dict[str, Any], limit: int) -> list[delivery.Report]:
    """One report, or the batch under ``reports``; one 400 listing every problem."""
    if "reports" not in body:
        fields = Fields(body)
        report = _parse_one(fields)
        fields.raise_if_any()
        return [report]  # type: ignore[list-item]
    items = body["reports"]
    problems = [FieldProblem(name, "is not allowed beside reports (a batch carries its reports under reports)")
                for name in REPORT_FIELDS if name in body]
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        problems.append(FieldProblem("reports", f"must be a list of 1 to {limit} reports"))
    if problems:
        names = ", ".join(p.field for p in problems)
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid request: check {names}.", problems)
    reports = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(FieldProblem(f"reports[{index}]", "must be an object"))
            continue
        fields = Fields(item)
        reports.append(_parse_one(fields))
        problems += [FieldProblem(f"reports[{index}].{p.field}", p.problem) for p in fields.problems]
    if problems:
        names = ", ".join(dict.fromkeys(p.field for p in problems[:5]))
        raise ApiError(400, "VALIDATION_ERROR", f"Invalid request: check {names}.", problems[:50])
    return reports  # type: ignore[return-value]


def _parse_one(fields: Fields) -> delivery.Report | None:
    client_ref = fields.string("client_ref", min_length=1, max_length=MAX_CLIENT_REF_CHARS)
    gateway_sms_id = None
    if fields.body.get("gateway_sms_id") is not None:
        gateway_sms_id = fields.integer("gateway_sms_id", minimum=0)
    status = fields.string("status", pattern=_STATUS)
    at = fields.datetime("at")
    reason = None
    if fields.body.get("reason") is not None:
        reason = fields.string("reason", max_length=MAX_REASON_CHARS)
    if fields.problems:
        return None
    return delivery.Report(client_ref, status, at, gateway_sms_id, reason)  # type: ignore[arg-type]
