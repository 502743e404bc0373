"""Optimove campaign batches: durable intake, idempotent on the batch's identity.

``accept`` stores the batch and all its recipients in the caller's transaction: each
deliverable recipient becomes a QUEUED outbox row (bulk priority) with ``not_before`` =
the batch's scheduled time, so the worker delivers it at that time through the per-port
throttle (and cancels it then if its number opted out meanwhile: the outbound consent
rule, applied here at intake too); each other recipient is recorded as a rejection with
its reason (``INVALID_NUMBER``, ``MISSING_MESSAGE``, ``EMPTY_MESSAGE``, ``TEXT_TOO_LONG``,
``UNRESOLVED_HASH``, ``OPTED_OUT``). The batch row is inserted first with ``ON CONFLICT
DO NOTHING`` on its key, so of concurrent deliveries of one batch exactly one queues
anything; the others (and later replays) get the stored result, or a conflict when
the same id arrives with another body.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, column, insert, select, table, update

from roko_app.database.dialect import insert_for
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, OutboundSms, OutboundStatus, Participant, Priority, Purpose
from roko_app.services import outbound
from roko_app.services.errors import DomainError, NotFound
from roko_app.sms.encoding import SegmentInfo, analyze
from roko_app.sms.msisdn import InvalidMsisdn, normalize_msisdn

log = logging.getLogger(__name__)

CALLER = "optimove"
CHUNK = 2000


class BatchConflict(DomainError):
    code = "BATCH_CONFLICT"


@dataclass(frozen=True, slots=True)
class Recipient:
    position: int
    mobile_number: str | None
    message: str | None
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """A well-formed batch (shape already checked by the webhook)."""

    batch_id: str
    request_id: str | None
    engagement_id: str | None
    campaign_id: str | None
    sender_id: str | None
    scheduled_at: datetime
    is_hashed: bool
    metadata: dict[str, Any]
    recipients: list[Recipient]
    body_hash: str

    @property
    def key(self) -> str:
        for kind, value in (("batch", self.batch_id), ("request", self.request_id),
                            ("engagement", self.engagement_id)):
            if value:
                return f"{kind}:{value}"[:255]
        return f"body:{self.body_hash}"


@dataclass(frozen=True, slots=True)
class AcceptResult:
    batch: CampaignBatch
    replay: bool
    #: The new batch's refused recipients by reason (empty for a replay).
    rejected_by_reason: Counter[str] = field(default_factory=Counter)

    @property
    def deliverable(self) -> bool:
        """False when there were recipients and not one could be queued."""
        return self.batch.accepted > 0 or self.batch.rejected == 0


@dataclass(frozen=True, slots=True)
class IntakeSettings:
    port: int
    hash_algorithm: str = "sha256"


def accept(request: BatchRequest, settings: IntakeSettings, now: datetime | None = None) -> AcceptResult:
    now = now or utcnow()
    session = db.session
    batch = session.scalars(
        insert_for(session, CampaignBatch)
        .values(batch_key=request.key, batch_id=request.batch_id[:200], request_id=_clip(request.request_id),
                engagement_id=_clip(request.engagement_id), campaign_id=_clip(request.campaign_id),
                sender_id=_clip(request.sender_id, 64), scheduled_at=request.scheduled_at, meta=request.metadata,
                body_hash=request.body_hash, accepted=0, rejected=0, received_at=now)
        .on_conflict_do_nothing(index_elements=["batch_key"])
        .returning(CampaignBatch)
    ).one_or_none()
    if batch is None:
        existing = session.scalars(select(CampaignBatch).where(CampaignBatch.batch_key == request.key)).one()
        if existing.body_hash != request.body_hash:
            raise BatchConflict(f"Batch {request.key!r} was already received with a different body.")
        log.info("campaign batch %s replayed (%s); nothing queued", existing.id, request.key)
        return AcceptResult(existing, replay=True)

    not_before = request.scheduled_at if request.scheduled_at > now else None
    opted_out = outbound.opted_out_numbers()
    hashes = _known_number_hashes(settings.hash_algorithm) if request.is_hashed else {}
    accepted = 0
    rejected: Counter[str] = Counter()
    queued_rows: list[dict[str, Any]] = []
    rejected_rows: list[dict[str, Any]] = []

    def flush() -> None:
        if queued_rows:
            _insert_rows(session, OutboundSms.__table__, queued_rows)
            queued_rows.clear()
        if rejected_rows:
            session.execute(insert(CampaignRejection), rejected_rows)
            rejected_rows.clear()

    for recipient in request.recipients:
        outcome = _check(recipient, request.is_hashed, hashes, opted_out)
        if isinstance(outcome, _Refused):
            reason, detail = outcome.reason, outcome.detail
            rejected[reason] += 1
            rejected_rows.append({"batch_id": batch.id, "position": recipient.position,
                                  "customer_id": _clip(recipient.customer_id),
                                  "mobile_number": _clip(recipient.mobile_number), "reason": reason,
                                  "detail": detail[:300] if detail else None, "params": outcome.params})
        else:
            msisdn, info = outcome
            accepted += 1
            queued_rows.append(outbound.message_values(
                msisdn=msisdn, info=info, port=settings.port, priority=Priority.BULK, caller=CALLER, now=now,
                not_before=not_before, purpose=Purpose.CAMPAIGN, campaign_batch_id=batch.id,
                customer_id=_clip(recipient.customer_id)))
        if len(queued_rows) + len(rejected_rows) >= CHUNK:
            flush()
    flush()
    batch.accepted, batch.rejected = accepted, rejected.total()
    log.info("campaign batch %s (%s): %s queued for %s, %s rejected", batch.id, request.key, accepted,
             request.scheduled_at.isoformat(), batch.rejected)
    return AcceptResult(batch, replay=False, rejected_by_reason=rejected)


@dataclass(frozen=True, slots=True)
class _Refused:
    reason: str
    detail: str | None = None  # in English, as logged
    params: dict[str, Any] | None = None  # the detail's machine form (the console's French says it)


def _check(recipient: Recipient, is_hashed: bool, hashes: dict[str, str],
           opted_out: set[str]) -> tuple[str, SegmentInfo] | _Refused:
    """``(msisdn, segment info)`` for a deliverable recipient, else why not."""
    number = recipient.mobile_number
    if not number:
        return _Refused("INVALID_NUMBER", "missing mobileNumber", {"problem": "missing"})
    if is_hashed:
        msisdn = hashes.get(number.strip().lower())
        if msisdn is None:
            return _Refused("UNRESOLVED_HASH")
    else:
        try:
            msisdn = normalize_msisdn(number)
        except InvalidMsisdn as exc:
            return _Refused("INVALID_NUMBER", str(exc), {"problem": exc.problem})
    if recipient.message is None:
        return _Refused("MISSING_MESSAGE")
    if not recipient.message.strip():
        return _Refused("EMPTY_MESSAGE")
    info = analyze(recipient.message)
    if not info.fits:
        return _Refused("TEXT_TOO_LONG", f"{info.units} units in {info.encoding}; one SMS holds {info.limit}",
                        {"units": info.units, "encoding": info.encoding, "limit": info.limit})
    if not outbound.consent_allows(Purpose.CAMPAIGN, opted_out=msisdn in opted_out):
        return _Refused("OPTED_OUT")
    return msisdn, info


def _known_number_hashes(algorithm: str) -> dict[str, str]:
    """Hash of each number that texted us → the number (only when a batch is hashed)."""
    known: dict[str, str] = {}
    for msisdn in db.session.scalars(select(Participant.msisdn)).yield_per(10_000):
        known[hashlib.new(algorithm, msisdn.encode("ascii")).hexdigest()] = msisdn
    return known


def _clip(value: str | None, length: int = 200) -> str | None:
    return value[:length] if value is not None else None


def _insert_rows(session: Any, target: Table, rows: list[dict[str, Any]]) -> None:
    """``session.execute(insert(target), rows)``: one executemany, the same values reaching
    the driver, with less work per row.

    SQLAlchemy runs each column's bind processing (``UTCDateTime``: to UTC, then the
    dialect's own conversion) for every value of every row; a batch's rows share the same
    timestamp objects, so here each distinct value object is processed once per column and
    the processed values are inserted through a plain (untyped) table clause. For a
    10,000-recipient batch on SQLite this cuts the request's CPU by about a third; on
    PostgreSQL by about a seventh (psycopg's per-row work remains). See bench/README.md.
    """
    dialect = session.get_bind().dialect
    columns = [target.c[key] for key in rows[0]]
    processed = [(c.key, process, {}) for c in columns
                 if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    renamed = [(c.key, c.name) for c in columns if c.key != c.name]
    params = []
    for row in rows:
        values = dict(row)
        for key, process, seen in processed:
            value = values[key]
            done = seen.get(id(value))  # the rows keep their values alive: no id is reused
            if done is None or done[0] is not value:
                done = seen[id(value)] = (value, process(value))
            values[key] = done[1]
        for key, name in renamed:
            values[name] = values.pop(key)
        params.append(values)
    plain = table(target.name, *(column(c.name) for c in columns), schema=target.schema)
    session.execute(insert(plain), params)


def cancel(batch_id: int, by: str, now: datetime | None = None) -> int:
    """Withdraw the batch's messages that are still QUEUED; returns how many."""
    now = now or utcnow()
    batch = db.session.get(CampaignBatch, batch_id)
    if batch is None:
        raise NotFound("No such batch.")
    cancelled = db.session.execute(
        update(OutboundSms)
        .where(OutboundSms.campaign_batch_id == batch_id, OutboundSms.status == OutboundStatus.QUEUED.value)
        .values(status=OutboundStatus.CANCELLED.value, updated_at=now, last_error=f"cancelled by {by}"[:500])
        .execution_options(synchronize_session=False)
    ).rowcount
    batch.cancelled_at, batch.cancelled_by = now, by
    return cancelled
