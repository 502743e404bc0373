"""The back end's Prometheus instruments: the gateway, classification, delivery
reports, Optimove callbacks and log-in failures, counted wherever they happen (web processes and worker processes alike; with
``PROMETHEUS_MULTIPROC_DIR`` shared on a host, ``GET /metrics`` adds them all up). The
web's own instruments and the endpoint are in :mod:`roko_app.web.metrics`. No label
holds a phone number, a code or a text."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

GATEWAY_DURATION = Histogram(
    "roko_gateway_request_duration_seconds", "Time the Topaz gateway took to answer, by call (send, status).",
    ["call"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
GATEWAY_SENDS = Counter(
    "roko_gateway_sends_total", "Send attempts through the gateway, by result (sent, transient, rejected) and "
    "SIM port.", ["result", "port"])
CLASSIFIED_SMS = Counter(
    "roko_classified_sms_total", "Inbound SMS classified by the worker, by outcome.", ["outcome"])
CLASSIFY_FAILURES = Counter(
    "roko_classify_failures_total", "Classifications that raised, by what became of the SMS (retry, parked).",
    ["result"])
DELIVERY_REPORTS = Counter(
    "roko_delivery_reports_total", "Delivery reports from the gateway, by status reported and whether they "
    "moved a message (applied, not applied, unknown message).", ["status", "result"])
OPTIMOVE_CALLBACKS = Counter(
    "roko_optimove_callback_attempts_total", "Calls to Optimove by kind (delivery-report, incoming-message, handshake) "
    "and outcome (sent, retry, dead).", ["kind", "outcome"])
LOGIN_FAILURES = Counter(
    "roko_login_failures_total", "Console log-ins refused, by reason (wrong_password, unknown_account, "
    "inactive_account, throttled_address, throttled_account); never the e-mail or the address.", ["reason"])
