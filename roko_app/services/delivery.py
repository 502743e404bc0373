"""Delivery truth: the gateway's delivery reports, and SENT messages that never got one.

Statuses only move forward (``docs/topaz-gateway.md`` §4). A report moves a message to
DELIVERED, UNDELIVERED or EXPIRED from any status the gateway may have sent it in
(``REPORTABLE_STATUSES``, SENDING and QUEUED included: a report may arrive before the
send's own answer is recorded); a message already final keeps its first final status.
The messages are locked while the rule is decided, and each move is a conditional
``UPDATE ... WHERE status IN (...)``, so it is atomic against the sender recording its
answer (its own conditional UPDATE waits, then sees the report) and against another
report for the same message.
Every report is kept in ``delivery_report``, applied or not. None of these commit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import BigInteger, bindparam, func, insert, literal_column, or_, select, update

from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import DeliveryReport, OutboundSms, OutboundStatus
from roko_app.models.outbound import REPORTABLE_STATUSES

log = logging.getLogger(__name__)

#: What the gateway says → our status.
REPORT_STATUSES: Final = {
    "delivered": OutboundStatus.DELIVERED,
    "failed": OutboundStatus.UNDELIVERED,
    "expired": OutboundStatus.EXPIRED,
}
MAX_REASON_CHARS: Final = 200
_CLIENT_REF = re.compile(r"roko-out-([1-9][0-9]{0,17})")


@dataclass(frozen=True, slots=True)
class Report:
    """One delivery report as the gateway posted it (already validated)."""

    client_ref: str
    status: str  # a key of REPORT_STATUSES
    at: datetime
    gateway_sms_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Applied:
    received: int
    applied: int  # moved a message
    unknown: int  # named no message of ours (recorded, ignored)
    # Reports by (status reported, "applied" | "not_applied" | "unknown"), for the metrics.
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


def message_id_of(client_ref: str) -> int | None:
    """Our outbound id in a ``client_ref`` (``roko-out-42`` → 42), or None."""
    match = _CLIENT_REF.fullmatch(client_ref)
    return int(match.group(1)) if match else None


_table = OutboundSms.__table__
# Built once, run as one executemany per body. Its WHERE repeats the rule applied in
# Python below (the rows are locked meanwhile), so a write can never move a message back.
_APPLY = (
    update(_table)
    .where(
        _table.c.id == bindparam("message_id"),
        # Our own constants, written into the statement (executemany takes no expanding IN).
        _table.c.status.in_([literal_column(f"'{status.value}'") for status in sorted(REPORTABLE_STATUSES)]),
        or_(bindparam("gateway_id", type_=BigInteger).is_(None), _table.c.gateway_sms_id.is_(None),
            _table.c.gateway_sms_id == bindparam("gateway_id", type_=BigInteger)),
    )
    .values(
        status=bindparam("new_status"),
        delivered_at=bindparam("at"),
        delivery_reason=bindparam("reason"),
        gateway_sms_id=func.coalesce(_table.c.gateway_sms_id, bindparam("gateway_id", type_=BigInteger)),
        lease_expires_at=None,
        updated_at=bindparam("now"),
    )
)
_REPORTABLE = frozenset(status.value for status in REPORTABLE_STATUSES)


def apply_reports(reports: Sequence[Report], now: datetime | None = None) -> Applied:
    """Apply ``reports`` in order and record every one; the counts (not committed).

    The messages they name are read and locked first (``SELECT ... FOR UPDATE`` in id
    order on PostgreSQL; SQLite's write lock, ``BEGIN IMMEDIATE``), the rule decided per report in order (a
    second final report for a message in the same body is not applied), then the moves
    are written in one executemany and the reports in one insert.
    """
    now = now or utcnow()
    begin_write(db.session)
    ids = {report.client_ref: message_id_of(report.client_ref) for report in reports}
    wanted = sorted({message_id for message_id in ids.values() if message_id is not None})
    state: dict[int, tuple[str, int | None]] = {}
    if wanted:
        found = db.session.execute(select(OutboundSms.id, OutboundSms.status, OutboundSms.gateway_sms_id)
                                   .where(OutboundSms.id.in_(wanted)).order_by(OutboundSms.id).with_for_update())
        state = {message_id: (status, gateway_id) for message_id, status, gateway_id in found}
    rows, moves = [], []
    unknown = 0
    counts: dict[tuple[str, str], int] = {}
    for report in reports:
        message_id = ids[report.client_ref]
        reason = _clip(report.reason)
        moved = False
        if message_id in state:
            status, gateway_id = state[message_id]
            # A report naming another gateway id is not about this message.
            moved = status in _REPORTABLE and (report.gateway_sms_id is None or gateway_id is None
                                               or gateway_id == report.gateway_sms_id)
            if moved:
                new_status = REPORT_STATUSES[report.status].value
                state[message_id] = (new_status, gateway_id if gateway_id is not None else report.gateway_sms_id)
                moves.append({"message_id": message_id, "gateway_id": report.gateway_sms_id, "at": report.at,
                              "new_status": new_status, "reason": reason, "now": now})
        else:
            message_id = None
            unknown += 1
        key = (report.status, "applied" if moved else "unknown" if message_id is None else "not_applied")
        counts[key] = counts.get(key, 0) + 1
        rows.append({"client_ref": report.client_ref, "outbound_sms_id": message_id,
                     "gateway_sms_id": report.gateway_sms_id, "status": report.status, "at": report.at,
                     "reason": reason, "applied": moved, "received_at": now})
    if moves:
        db.session.execute(_APPLY, moves)
    if rows:
        db.session.execute(insert(DeliveryReport), rows)
    log.info("delivery reports: %d received, %d applied, %d for unknown messages", len(reports), len(moves), unknown)
    return Applied(received=len(reports), applied=len(moves), unknown=unknown, counts=counts)


def expire_unreported(expiry: timedelta, now: datetime | None = None, *, batch_size: int = 1000) -> int:
    """Turn SENT messages sent more than ``expiry`` ago into UNREPORTED, one batch of at
    most ``batch_size`` rows; how many (not committed; call again until it answers
    fewer than ``batch_size``). Idempotent: only SENT rows move, and a report racing the
    sweep wins or loses atomically (``WHERE status = 'SENT'`` is re-checked per row)."""
    now = now or utcnow()
    cutoff = now - expiry
    due = (select(OutboundSms.id)
           .where(OutboundSms.status == OutboundStatus.SENT, OutboundSms.sent_at < cutoff)
           .limit(batch_size).scalar_subquery())
    statement = (update(OutboundSms)
                 .where(OutboundSms.id.in_(due), OutboundSms.status == OutboundStatus.SENT,
                        OutboundSms.sent_at < cutoff)
                 .values(status=OutboundStatus.UNREPORTED.value, updated_at=now)
                 .execution_options(synchronize_session=False))
    moved = db.session.execute(statement).rowcount
    if moved:
        log.info("delivery: %d message(s) SENT before %s without a report are now UNREPORTED", moved,
                 cutoff.isoformat())
    return int(moved)


def _clip(reason: str | None) -> str | None:
    if reason is None:
        return None
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 3] + "..."
