"""Recording inbound SMS exactly once: the whole of the gateway's request.

The gateway retries, modems deliver twice, and the same SMS can arrive on several
connections at once. ``record`` inserts with ``ON CONFLICT DO NOTHING`` on the unique
``(gateway_sms_id, port)`` key, so the database decides who was first; every other
caller gets the same row back as a replay. The worker classifies each stored SMS once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, bindparam, select, text

from roko_app.database.dialect import insert_for
from roko_app.database.sqlite import inbound_turn
from roko_app.database.types import UTCDateTime, utcnow
from roko_app.extensions import db
from roko_app.models import InboundDiscrepancy, InboundSms
from roko_app.services.errors import PortNotAllowed
from roko_app.sms.msisdn import guinea_msisdn_or_none

log = logging.getLogger(__name__)

#: The PostgreSQL notification channel that tells classifiers a new SMS was stored.
NEW_SMS_CHANNEL = "roko_inbound_sms"

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


# Built once: the statement of every inbound SMS. Typed binds, so ``UTCDateTime``
# converts the timestamps as it does for the ORM.
_COLUMNS = "gateway_sms_id, port, sender, sender_msisdn, text, gateway_timestamp, received_at, source"
_VALUES = ":gateway_sms_id, :port, :sender, :sender_msisdn, :text, :gateway_timestamp, :received_at, :source"
_ON_CONFLICT = "ON CONFLICT (gateway_sms_id, port) DO NOTHING RETURNING id"
_BINDS = (
    bindparam("gateway_sms_id", type_=BigInteger()), bindparam("port", type_=Integer()),
    bindparam("sender", type_=String()), bindparam("sender_msisdn", type_=String()), bindparam("text", type_=Text()),
    bindparam("gateway_timestamp", type_=UTCDateTime()), bindparam("received_at", type_=UTCDateTime()),
    bindparam("source", type_=String()),
)
_INSERT = {
    # SQLite: one writer at a time, so ids are given in the order SMS are committed.
    "sqlite": text(f"INSERT INTO inbound_sms ({_COLUMNS}) VALUES ({_VALUES}) {_ON_CONFLICT}")  # noqa: S608 (constants)
    .bindparams(*_BINDS).columns(id=BigInteger()),
    # PostgreSQL, in one statement: the number's lock, shared with every other SMS of the
    # number being stored, taken before the id is drawn (the materialised CTE is read
    # first), so that a classifier can tell when an SMS with a smaller id may still commit
    # (``roko_app.services.classify``); the insert; and, for a row it stored, the notice
    # that wakes the classifiers (delivered at commit, and only if it commits).
    "postgresql": text(
        "WITH number AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(hashtextextended(:number_lock, 0))), "  # noqa: S608
        f"stored AS (INSERT INTO inbound_sms ({_COLUMNS}) SELECT {_VALUES} FROM number {_ON_CONFLICT}) "
        "SELECT id, pg_notify(:channel, '') FROM stored")
    .bindparams(*_BINDS, bindparam("number_lock", type_=String()),
                bindparam("channel", NEW_SMS_CHANNEL, type_=String())).columns(id=BigInteger()),
}


def number_lock(participant_key: str) -> str:
    """The name of the PostgreSQL advisory lock that orders a number's SMS: held shared by
    each webhook request storing one, tried exclusively by the classifier."""
    return "roko-inbound-number:" + participant_key


def record(incoming: IncomingSms, allowed_ports: Collection[int]) -> RecordResult:
    """Store ``incoming`` once, and commit. A replay returns the stored row and changes
    nothing but, when its content differs, a discrepancy note. Classification happens
    later, in the worker (:mod:`roko_app.services.classify`).

    The first delivery, on every inbound SMS's path, is one Core statement in a
    transaction of its own on the engine (on PostgreSQL with the number's lock and
    ``pg_notify``, in autocommit; on SQLite in the web processes' turn): no ORM session
    is opened. A replay, rare, reads the stored row through the ORM."""
    if incoming.port not in allowed_ports:
        raise PortNotAllowed(f"SIM port {incoming.port} is not accepted by this environment.")
    sender_msisdn = guinea_msisdn_or_none(incoming.sender)
    values = {
        "gateway_sms_id": incoming.gateway_sms_id,
        "port": incoming.port,
        "sender": incoming.sender,
        "sender_msisdn": sender_msisdn,
        "text": incoming.text,
        "gateway_timestamp": incoming.timestamp,
        "received_at": utcnow(),
        "source": incoming.source,
        "number_lock": number_lock(sender_msisdn or incoming.sender),
    }
    engine = db.engine
    if engine.dialect.name == "postgresql":
        # The statement is its own transaction (autocommit): no BEGIN and COMMIT round trips.
        with engine.connect() as connection:
            sms_id = connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                _INSERT["postgresql"], values).scalar()
    else:
        # SQLite: the web processes take turns (docs/adr/0003).
        with inbound_turn(engine), engine.begin() as connection:
            sms_id = connection.execute(_INSERT["sqlite"], values).scalar()
    if sms_id is not None:
        log.info("inbound sms %s stored (gateway %s, port %s)", sms_id, incoming.gateway_sms_id, incoming.port)
        return RecordResult(sms_id, True)
    session = db.session
    existing = session.scalars(
        select(InboundSms).where(
            InboundSms.gateway_sms_id == incoming.gateway_sms_id, InboundSms.port == incoming.port
        )
    ).one()
    result = RecordResult(existing.id, False, _note_discrepancy(existing, incoming))
    session.commit()
    return result


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
