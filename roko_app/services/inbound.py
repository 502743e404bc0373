"""Recording inbound SMS exactly once.

The gateway retries, modems deliver twice, and the same SMS can arrive on several
connections at once. ``record`` inserts with ``ON CONFLICT DO NOTHING`` on the unique
``(gateway_sms_id, port)`` key, so the database decides who was first: exactly one
caller gets ``created=True`` and hangs later work (entries, replies) off it; every
other caller gets the same row back as a replay.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from roko_app.database.dialect import insert_for
from roko_app.database.sqlite import RawConnection, Sql, sqlite_write_lock
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import InboundDiscrepancy, InboundSms
from roko_app.services import classify
from roko_app.services.classify import DrawSettings
from roko_app.services.errors import PortNotAllowed
from roko_app.sms.msisdn import guinea_msisdn_or_none

log = logging.getLogger(__name__)

_COMPARED_FIELDS = ("sender", "text", "gateway_timestamp", "source")


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """An SMS as the gateway described it (already validated)."""

    gateway_sms_id: int
    port: int
    sender: str
    text: str
    timestamp: datetime  # UTC
    source: str = "topaz"


@dataclass(frozen=True, slots=True)
class RecordResult:
    sms_id: int
    created: bool  # True only for the first delivery of this SMS
    discrepancy: InboundDiscrepancy | None = None  # set when a replay's content differed

    @property
    def sms(self) -> InboundSms:
        return db.session.get(InboundSms, self.sms_id)  # type: ignore[return-value]


def receive(incoming: IncomingSms, allowed_ports: Collection[int], draw: DrawSettings) -> RecordResult:
    """The inbound use case: store the SMS once and, on its first delivery only,
    classify it into a draw entry and queue the reply, all in the caller's transaction."""
    msisdn = guinea_msisdn_or_none(incoming.sender)
    sqlite_write_lock(db.session)
    raw = RawConnection(db.session)  # one per request: both steps run in its transaction
    result = record(incoming, allowed_ports, msisdn, raw)
    if result.created:
        classify.classify(classify.NewSms(result.sms_id, incoming.sender, msisdn, incoming.text, incoming.port), draw,
                         raw=raw)
    return result


# The hot path of every inbound SMS: SQL on the DB-API connection (see ``RawConnection``).
_INSERT = Sql("""
    INSERT INTO inbound_sms (gateway_sms_id, port, sender, sender_msisdn, text, gateway_timestamp, received_at, source)
    VALUES (:gateway_sms_id, :port, :sender, :sender_msisdn, :text, :gateway_timestamp, :received_at, :source)
    ON CONFLICT (gateway_sms_id, port) DO NOTHING
    RETURNING id""")


def record(incoming: IncomingSms, allowed_ports: Collection[int], sender_msisdn: str | None = None,
           raw: RawConnection | None = None) -> RecordResult:
    """Store ``incoming`` once; a replay returns the stored row and changes nothing.
    ``sender_msisdn`` and ``raw`` are the sender's normalised Guinea number and the
    request's connection, when the caller has them."""
    if incoming.port not in allowed_ports:
        raise PortNotAllowed(f"SIM port {incoming.port} is not accepted by this environment.")
    if sender_msisdn is None:
        sender_msisdn = guinea_msisdn_or_none(incoming.sender)
    if raw is None:
        sqlite_write_lock(db.session)
        raw = RawConnection(db.session)
    values = {
        "gateway_sms_id": incoming.gateway_sms_id,
        "port": incoming.port,
        "sender": incoming.sender,
        "sender_msisdn": sender_msisdn,
        "text": incoming.text,
        "gateway_timestamp": raw.time(incoming.timestamp),
        "received_at": raw.time(utcnow()),
        "source": incoming.source,
    }
    row = raw.execute(_INSERT, values).fetchone()
    if row is not None:
        log.info("inbound sms %s stored (gateway %s, port %s)", row[0], incoming.gateway_sms_id, incoming.port)
        return RecordResult(row[0], True)
    existing = db.session.scalars(
        select(InboundSms).where(
            InboundSms.gateway_sms_id == incoming.gateway_sms_id, InboundSms.port == incoming.port
        )
    ).one()
    return RecordResult(existing.id, False, _note_discrepancy(existing, incoming))


def _note_discrepancy(existing: InboundSms, incoming: IncomingSms) -> InboundDiscrepancy | None:
    values = {"sender": incoming.sender, "text": incoming.text, "gateway_timestamp": incoming.timestamp,
              "source": incoming.source}
    differing = [name for name in _COMPARED_FIELDS if getattr(existing, name) != values[name]]
    if not differing:
        log.info("inbound sms %s replayed by the gateway (identical)", existing.id)
        return None
    payload = {name: _jsonable(values[name]) for name in _COMPARED_FIELDS}
    payload_hash = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    log.warning(
        "inbound sms %s replayed with different %s (gateway %s, port %s); original kept",
        existing.id, ", ".join(differing), existing.gateway_sms_id, existing.port,
    )
    session = db.session
    stmt = (
        insert_for(session, InboundDiscrepancy)
        .values(sms_id=existing.id, received_at=utcnow(), fields=differing, payload=payload, payload_hash=payload_hash)
        .on_conflict_do_nothing(index_elements=["sms_id", "payload_hash"])
        .returning(InboundDiscrepancy)
    )
    noted = session.scalars(stmt).one_or_none()
    if noted is None:  # the same differing payload was already recorded
        noted = session.scalars(
            select(InboundDiscrepancy).where(
                InboundDiscrepancy.sms_id == existing.id, InboundDiscrepancy.payload_hash == payload_hash
            )
        ).one()
    return noted


def _jsonable(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value
