"""``GET /metrics``: Prometheus text format. Counters and histograms are kept by
prometheus_client, shared across gunicorn workers and processes through its
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set; the queue gauges are read
from the database at each scrape, so they hold for every host. No label carries a
phone number, a code or a message text (routes are templates). docs/deploy.md, Monitoring."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from roko_app.configuration import ConfigError
from roko_app.extensions import db
from roko_app.models import CallbackState, InboundSms, OptimoveCallback, OutboundSms
from roko_app.models.outbound import OutboundStatus
from roko_app.web.credentials import token_matches
from roko_app.web.errors import ApiError
from roko_app.web.request_log import route_template

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: The outbox statuses whose rows are still to be dealt with (the queue's depth).
PENDING_STATUSES = (OutboundStatus.QUEUED, OutboundStatus.SENDING, OutboundStatus.UNCERTAIN)
#: The kinds of Optimove callback (models/callback.py), listed even when none is waiting.
CALLBACK_KINDS = ("delivery-report", "incoming-message", "handshake")
#: The route label of a request that matched no route (never its path).
UNMATCHED = "<unmatched>"

HTTP_DURATION = Histogram(
    "roko_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
INBOUND_SMS = Counter(
    "roko_inbound_sms_total", "Inbound SMS posted by the gateway, by result (stored, replay, rejected, error) "
    "and, when rejected, the problem code.", ["result", "reason"])
OPTIMOVE_BATCHES = Counter(
    "roko_optimove_batches_total", "Optimove campaign batches, by result (accepted, replay, undeliverable, "
    "conflict, invalid).", ["result"])
OPTIMOVE_RECIPIENTS = Counter(
    "roko_optimove_recipients_total", "Recipients of new Optimove batches, queued (accepted) or refused "
    "(rejected) and, when refused, why (INVALID_NUMBER, TEXT_TOO_LONG, OPTED_OUT, ...).", ["result", "reason"])
OPTIMOVE_AUTH_FAILURES = Counter(
    "roko_optimove_auth_failures_total", "Optimove requests refused before reading the batch: INVALID_API_KEY "
    "or INVALID_SIGNATURE.", ["reason"])


# --- recording -------------------------------------------------------------------------


def count_inbound(view: Callable[..., Any]) -> Callable[..., Any]:
    """Count the inbound webhook's refusals by problem code, and its unexpected errors;
    the view counts what it stored (:func:`inbound_recorded`)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            INBOUND_SMS.labels("rejected", exc.code).inc()
            raise
        except Exception:
            INBOUND_SMS.labels("error", "").inc()
            raise

    return wrapper


def count_optimove_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Count the batches the campaign view refuses (after authentication): 409 conflict,
    anything else invalid; the view counts the batches it takes (:func:`optimove_batch`)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            OPTIMOVE_BATCHES.labels("conflict" if exc.status == 409 else "invalid").inc()
            raise

    return wrapper


def inbound_recorded(created: bool) -> None:
    INBOUND_SMS.labels("stored" if created else "replay", "").inc()


def optimove_batch(result: str, accepted: int = 0, rejected: Mapping[str, int] | None = None) -> None:
    """A batch's result; for a new batch, its recipients queued and refused by reason."""
    OPTIMOVE_BATCHES.labels(result).inc()
    if accepted:
        OPTIMOVE_RECIPIENTS.labels("accepted", "").inc(accepted)
    for reason, count in (rejected or {}).items():
        OPTIMOVE_RECIPIENTS.labels("rejected", reason).inc(count)


def optimove_auth_failure(code: str) -> None:
    OPTIMOVE_AUTH_FAILURES.labels(code).inc()


#: The methods that get a label of their own; any other (a client can send any word) is
#: counted as "other", so no client can add series to the metrics.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def register_metrics(app: Flask) -> None:
    """The ``/metrics`` view, and the timing of every request by route template."""
    app.register_blueprint(bp)

    def _start() -> None:
        g.metrics_started = time.perf_counter()

    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            rule = request.url_rule
            route = route_template(rule.rule) if rule is not None else UNMATCHED
            method = request.method if request.method in _METHODS else "other"
            HTTP_DURATION.labels(method, route, str(response.status_code)).observe(
                time.perf_counter() - started)
        return response

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and not os.path.isdir(directory):
        raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={directory} is not a folder; create it (empty) before starting.")
    # First of the before-request hooks: requests answered by CSRF or the limiter count too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)


# --- the scrape --------------------------------------------------------------------------


@bp.get("/metrics")
def metrics() -> Response:
    _authorize()
    families = list(_database_families())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(_process_families(), families))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4, headers={"Cache-Control": "no-store"})


def _authorize() -> None:
    """With ``METRICS_TOKEN``: ``Authorization: Bearer <token>`` (constant-time). Without:
    served in dev and test, and not at all (404) in stage and prod."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        if current_app.config["ENV"] in ("stage", "prod"):
            abort(404)
        return
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(presented.strip(), token):
        raise ApiError(401, "INVALID_METRICS_TOKEN", "Missing or invalid Authorization: Bearer token.",
                       headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


def _process_families() -> Iterable[Metric]:
    """The counters and histograms: every process's (multiprocess mode), or this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return MultiProcessCollector(None).collect()
    return REGISTRY.collect()


class _Families:
    def __init__(self, *sources: Iterable[Metric]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source


def _database_families() -> Iterator[Metric]:
    """The queue as the database has it now: outbox depth, oldest due message, the
    classifier's lag, parked SMS and the Optimove callbacks pending and dead; ``roko_database_up`` 0 when it cannot be read."""
    now = datetime.now(UTC)
    session = db.session
    try:
        depth = session.execute(
            select(OutboundSms.status, OutboundSms.priority, func.count())
            .where(OutboundSms.status.in_(PENDING_STATUSES))
            .group_by(OutboundSms.status, OutboundSms.priority)).all()
        oldest_due = session.execute(
            select(OutboundSms.priority, func.min(OutboundSms.next_attempt_at))
            .where(OutboundSms.status == OutboundStatus.QUEUED, OutboundSms.next_attempt_at <= now)
            .group_by(OutboundSms.priority)).all()
        oldest_unclassified = session.scalar(
            select(InboundSms.received_at)
            .where(InboundSms.classified_at.is_(None), InboundSms.parked_at.is_(None))
            .order_by(InboundSms.id).limit(1))
        parked = session.scalar(
            select(func.count()).select_from(InboundSms)
            .where(InboundSms.classified_at.is_(None), InboundSms.parked_at.is_not(None)))
        callbacks = session.execute(
            select(OptimoveCallback.state, OptimoveCallback.kind, func.count())
            .where(OptimoveCallback.state.in_((CallbackState.PENDING, CallbackState.DEAD)))
            .group_by(OptimoveCallback.state, OptimoveCallback.kind)).all()
        session.rollback()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("metrics: the database cannot be read (%s)", type(exc).__name__)
        yield _gauge("roko_database_up", "1 when the scrape could read the database.", value=0)
        return
    yield _gauge("roko_database_up", "1 when the scrape could read the database.", value=1)
    outbox = GaugeMetricFamily("roko_outbox_messages", "Outbox rows still to be dealt with, by status and priority.",
                               labels=["status", "priority"])
    for status in PENDING_STATUSES:
        for priority in sorted({int(p) for _, p, _ in depth} | {0, 5, 10}):
            found = next((n for s, p, n in depth if s == status and int(p) == priority), 0)
            outbox.add_metric([str(status), str(priority)], found)
    yield outbox
    due = GaugeMetricFamily("roko_outbox_oldest_due_age_seconds",
                            "How long the oldest QUEUED message that is due has been waiting, by priority "
                            "(0: none waiting).", labels=["priority"])
    for priority in sorted({int(p) for p, _ in oldest_due} | {0, 5, 10}):
        since = next((at for p, at in oldest_due if int(p) == priority), None)
        due.add_metric([str(priority)], _age(since, now))
    yield due
    yield _gauge("roko_classification_lag_seconds",
                 "Age of the oldest stored SMS not yet classified (parked ones aside; 0: none).",
                 value=_age(oldest_unclassified, now))
    for state, name, documentation in (
            (CallbackState.PENDING, "roko_optimove_callbacks_pending",
             "Calls to Optimove waiting to be sent or retried, by kind."),
            (CallbackState.DEAD, "roko_optimove_callbacks_dead",
             "Calls to Optimove it refused (dead letters, re-sent by hand), by kind.")):
        family = GaugeMetricFamily(name, documentation, labels=["kind"])
        for kind in sorted(set(CALLBACK_KINDS) | {k for s, k, _ in callbacks if s == state}):
            family.add_metric([kind], next((n for s, k, n in callbacks if s == state and k == kind), 0))
        yield family
    yield _gauge("roko_inbound_sms_parked", "SMS whose classification failed for good, waiting for an operator.",
                 value=int(parked or 0))


def _gauge(name: str, documentation: str, *, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(since: datetime | None, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0
