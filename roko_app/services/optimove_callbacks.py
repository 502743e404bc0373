"""The callbacks outbox: what we tell Optimove (docs/optimove.md), a row first, then sent.

* :func:`queue_delivery_reports`: one delivery report per campaign message whose status
  became one Optimove hears about (``OPTIMOVE_STATUS_MAP``), again if it later changes
  (a late report turning UNREPORTED into DELIVERED); idempotency key
  ``dlr:<message id>:<status>``; a message cancelled because its number opted out
  reports as ``OPTED_OUT``;
* :func:`queue_incoming`: an inbound SMS from a number that got a campaign message within
  ``OPTIMOVE_REPLY_WINDOW_HOURS``, forwarded as an incoming message (STOP included), by the
  classifier in the transaction that classifies the SMS;
* :func:`queue_handshake`: our campaign webhook URL and key;
* :func:`send_due`: posts the due rows (exact bytes, signed), retrying 429, 5xx and
  network errors with backoff, never another 4xx (DEAD, re-queued by hand with
  :func:`retry_dead`).

Only :func:`send_due` commits (each call's outcome, so nothing is sent twice by one sender;
two senders cannot take the same row: a claim is a conditional UPDATE).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import and_, case, or_, select, update

from roko_app import metrics
from roko_app.configuration import ConfigError
from roko_app.database.sqlite import begin_write
from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import CallbackState, CampaignBatch, OptimoveCallback, OutboundSms, OutboundStatus
from roko_app.models.outbound import CANCELLED_OPTED_OUT
from roko_app.optimove.client import OptimoveClient
from roko_app.services.backoff import doubled
from roko_app.services.errors import DomainError, NotFound

__all__ = ["NotRetryable", "OptimoveClient", "ReplyForwarding", "client_from_config", "enabled",
           "queue_delivery_reports", "queue_handshake", "queue_incoming", "retry_dead", "send_due", "status_map"]

log = logging.getLogger(__name__)

BACKOFF_BASE: Final = timedelta(seconds=30)
BACKOFF_MAX: Final = timedelta(hours=1)
#: How long a sender holds a row it is posting (another sender skips it meanwhile).
CLAIM: Final = timedelta(seconds=60)


def enabled(config: Mapping[str, Any]) -> bool:
    """Whether this environment talks back to Optimove (``OPTIMOVE_BASE_URL`` is set)."""
    return bool(str(config.get("OPTIMOVE_BASE_URL") or "").strip())


def client_from_config(config: Mapping[str, Any]) -> OptimoveClient:
    return OptimoveClient(str(config["OPTIMOVE_BASE_URL"]), str(config.get("OPTIMOVE_APP_API_KEY") or ""),
                          str(config.get("OPTIMOVE_HMAC_SECRET") or ""))


def status_map(config: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """``{our status: (Optimove status, subStatus)}`` from ``OPTIMOVE_STATUS_MAP``, checked
    (the app refuses to start with a map it cannot use: a misspelt status would otherwise
    never be reported, silently)."""
    raw = config["OPTIMOVE_STATUS_MAP"]
    try:
        mapping = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ConfigError("ROKO_OPTIMOVE_STATUS_MAP must be a JSON object such as "
                          '{"DELIVERED": ["Delivered", ""]}.') from None
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"ROKO_OPTIMOVE_STATUS_MAP must map our statuses to [status, subStatus], got {raw!r}.")
    reportable = sorted({status.value for status in OutboundStatus} | {OPTED_OUT_REPORT})
    checked: dict[str, tuple[str, str]] = {}
    for ours, theirs in mapping.items():
        if ours not in reportable:
            raise ConfigError(f"ROKO_OPTIMOVE_STATUS_MAP: {ours!r} is not one of our statuses "
                              f"({', '.join(reportable)}).")
        if not isinstance(theirs, list | tuple) or len(theirs) != 2 or not all(isinstance(x, str) for x in theirs):
            raise ConfigError(f"ROKO_OPTIMOVE_STATUS_MAP: {ours} must map to [status, subStatus] (two strings), "
                              f"got {theirs!r}.")
        checked[ours] = (theirs[0], theirs[1])
    return checked


def _encode(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _supersede(*condition: Any, by: str) -> None:
    """The PENDING calls matching ``condition`` will not be sent: ``by`` says the same
    thing anew, and sent after it they would undo it (Optimove keeps the last word)."""
    db.session.execute(update(OptimoveCallback)
                       .where(OptimoveCallback.state == CallbackState.PENDING, *condition)
                       .values(state=CallbackState.SUPERSEDED, last_error=f"superseded by {by}"[:300])
                       .execution_options(synchronize_session=False))


def _add(kind: str, key: str, body: Any, now: datetime, **links: int) -> None:
    db.session.add(OptimoveCallback(kind=kind, idempotency_key=key, body=_encode(body), state=CallbackState.PENDING,
                                    attempts=0, next_attempt_at=now, created_at=now, **links))


#: What a message reports as (the key of ``OPTIMOVE_STATUS_MAP``): its status, except a
#: message cancelled because its number opted out (CANCELLED, last_error
#: CANCELLED_OPTED_OUT), which reports as ``OPTED_OUT``: not sent, like FAILED, and Optimove
#: learns why. An operator's cancellation is not reported.
OPTED_OUT_REPORT: Final = "OPTED_OUT"
_REPORTED = case((and_(OutboundSms.status == OutboundStatus.CANCELLED.value,
                       OutboundSms.last_error == CANCELLED_OPTED_OUT), OPTED_OUT_REPORT),
                 else_=OutboundSms.status)


def queue_delivery_reports(config: Mapping[str, Any], now: datetime | None = None, *, limit: int = 500) -> int:
    """Queue a report for up to ``limit`` campaign messages whose reportable status was
    not reported yet; how many (flushed, not committed)."""
    now = now or utcnow()
    mapping = status_map(config)
    begin_write(db.session)
    rows = db.session.execute(
        select(OutboundSms.id, OutboundSms.status, _REPORTED, OutboundSms.to_msisdn, OutboundSms.customer_id,
               CampaignBatch.batch_id, CampaignBatch.meta)
        .join(CampaignBatch, CampaignBatch.id == OutboundSms.campaign_batch_id)
        .where(_REPORTED.in_(list(mapping)),
               or_(OutboundSms.optimove_reported.is_(None), OutboundSms.optimove_reported != _REPORTED))
        .order_by(OutboundSms.id).limit(limit).with_for_update(of=OutboundSms, skip_locked=True)
    ).all()
    if not rows:
        return 0
    used: dict[int, set[str]] = {}
    for message_id, key in db.session.execute(
            select(OptimoveCallback.outbound_sms_id, OptimoveCallback.idempotency_key)
            .where(OptimoveCallback.outbound_sms_id.in_([row[0] for row in rows]))):
        used.setdefault(message_id, set()).add(key)
    keys = {row[0]: _report_key(row[0], row[2], used.get(row[0], set())) for row in rows}
    # An older report of one of these messages still waiting (Optimove was down) would
    # arrive after the new one and leave Optimove with the older status: one statement
    # for the batch, each naming the report that replaces it.
    db.session.execute(update(OptimoveCallback)
                       .where(OptimoveCallback.state == CallbackState.PENDING,
                              OptimoveCallback.kind == "delivery-report",
                              OptimoveCallback.outbound_sms_id.in_(list(keys)))
                       .values(state=CallbackState.SUPERSEDED,
                               last_error=case({message_id: f"superseded by {key}" for message_id, key in keys.items()},
                                               value=OptimoveCallback.outbound_sms_id))
                       .execution_options(synchronize_session=False))
    for message_id, status, reported, msisdn, customer_id, batch_id, meta in rows:
        optimove_status, sub_status = mapping[reported]
        body = {"type": {"status": optimove_status, "subStatus": sub_status}, "metadata": meta, "batchId": batch_id,
                "customerId": customer_id, "mobileNumber": "224" + msisdn}
        _add("delivery-report", keys[message_id], body, now, outbound_sms_id=message_id)
        db.session.execute(update(OutboundSms).where(OutboundSms.id == message_id, OutboundSms.status == status)
                           .values(optimove_reported=reported).execution_options(synchronize_session=False))
    db.session.flush()
    return len(rows)


def _report_key(message_id: int, reported: str, used: set[str]) -> str:
    """``dlr:<message id>:<status>``; a status the message reaches again (a map that
    reports QUEUED or UNCERTAIN too: FAILED, re-queued by hand, FAILED again) gets
    ``:2``, ``:3``...: a new report, which Optimove would drop under the first one's key.
    ``used``: the keys of the message's reports so far."""
    key = f"dlr:{message_id}:{reported}"
    again = 1
    while (f"{key}:{again}" if again > 1 else key) in used:
        again += 1
    return f"{key}:{again}" if again > 1 else key


@dataclass(frozen=True, slots=True)
class ReplyForwarding:
    """Which farmers' SMS are forwarded to Optimove as incoming messages: those from a
    number that got a campaign message within ``window`` before the SMS arrived."""

    sender_id: str
    window: timedelta

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ReplyForwarding | None:
        """None when this environment does not talk back to Optimove."""
        if not enabled(config):
            return None
        return cls(str(config["OPTIMOVE_SENDER_ID"]), timedelta(hours=float(config["OPTIMOVE_REPLY_WINDOW_HOURS"])))


class Reply(Protocol):
    """What forwarding reads of an inbound SMS (:class:`roko_app.services.classify.PendingSms`)."""

    id: int
    sender_msisdn: str | None
    text: str
    gateway_timestamp: datetime
    received_at: datetime


def queue_incoming(messages: Sequence[Reply], forwarding: ReplyForwarding) -> int:
    """Forward each of ``messages`` whose sender got a campaign message within the reply
    window, once per SMS (the classifier calls this once per SMS, in the transaction that
    classifies it; the idempotency key ``mo:<sms id>`` is the last line of defence). How
    many were queued (flushed, not committed). Two statements for the whole batch."""
    candidates = [sms for sms in messages if sms.sender_msisdn]
    if not candidates:
        return 0
    numbers = sorted({sms.sender_msisdn for sms in candidates if sms.sender_msisdn})
    earliest = min(sms.received_at for sms in candidates) - forwarding.window
    latest = max(sms.received_at for sms in candidates)
    sent: dict[str, list[datetime]] = {}
    # When the campaign message went out (sent_at), not when it was queued: a batch is
    # queued up to days before its scheduled time, and one not sent (still queued,
    # withdrawn, failed) reached no one.
    for msisdn, sent_at in db.session.execute(
            select(OutboundSms.to_msisdn, OutboundSms.sent_at)
            .where(OutboundSms.to_msisdn.in_(numbers), OutboundSms.campaign_batch_id.is_not(None),
                   OutboundSms.sent_at >= earliest, OutboundSms.sent_at <= latest)):
        sent.setdefault(msisdn, []).append(sent_at)
    due = [sms for sms in candidates
           if any(sms.received_at - forwarding.window <= at <= sms.received_at for at in sent.get(sms.sender_msisdn, ()))]
    if not due:
        return 0
    known = set(db.session.scalars(select(OptimoveCallback.inbound_sms_id)
                                   .where(OptimoveCallback.inbound_sms_id.in_([sms.id for sms in due]))))
    now = utcnow()
    queued = 0
    for sms in due:
        if sms.id in known:
            continue
        sent_at = sms.gateway_timestamp.strftime("%Y-%m-%dT%H:%M:%S")  # UTC, as in the contract's example (no zone)
        body = {"messages": [{"to": forwarding.sender_id, "from": "224" + str(sms.sender_msisdn),
                              "message": sms.text, "sentAt": sent_at}]}
        _add("incoming-message", f"mo:{sms.id}", body, now, inbound_sms_id=sms.id)
        queued += 1
    db.session.flush()
    return queued


def queue_handshake(config: Mapping[str, Any], now: datetime | None = None) -> OptimoveCallback:
    """Queue the handshake: our campaign webhook's URL and the key Optimove must present."""
    now = now or utcnow()
    url = str(config.get("OPTIMOVE_CAMPAIGN_WEBHOOK_URL") or "").strip()
    if not url:
        raise HandshakeNotConfigured("OPTIMOVE_CAMPAIGN_WEBHOOK_URL (our public campaign webhook URL) is not set.")
    # an older handshake still waiting would register its key after this one's
    _supersede(OptimoveCallback.kind == "handshake", by=f"handshake:{now.isoformat()}")
    _add("handshake", f"handshake:{now.isoformat()}", {"campaignSendUrl": url,
                                                       "aggregatorApiKey": str(config["OPTIMOVE_API_KEY"])}, now)
    db.session.flush()
    return db.session.scalars(select(OptimoveCallback).where(
        OptimoveCallback.idempotency_key == f"handshake:{now.isoformat()}")).one()


class HandshakeNotConfigured(DomainError):
    code = "NOT_CONFIGURED"


def send_due(client: OptimoveClient, now: datetime | None = None, *, limit: int = 100,
             only: int | None = None) -> dict[str, int]:
    """Post up to ``limit`` due PENDING rows (or only row ``only``), each committed with
    its outcome; counts by outcome."""
    now = now or utcnow()
    statement = (select(OptimoveCallback.id)
                 .where(OptimoveCallback.state == CallbackState.PENDING, OptimoveCallback.next_attempt_at <= now)
                 .order_by(OptimoveCallback.next_attempt_at, OptimoveCallback.id).limit(limit))
    if only is not None:
        statement = statement.where(OptimoveCallback.id == only)
    due = list(db.session.scalars(statement))
    db.session.commit()
    counts = {"sent": 0, "retry": 0, "dead": 0}
    for callback_id in due:
        row = _claim(callback_id, now)
        if row is None:
            continue  # another sender took it
        result = client.post(row.kind, row.body.encode("utf-8"), row.idempotency_key)
        values: dict[str, Any] = {"attempts": row.attempts + 1, "last_status": result.http_status,
                                  "last_error": result.reason}
        if result.outcome == "sent":
            values.update(state=CallbackState.SENT, sent_at=utcnow())
        elif result.outcome == "dead":
            values.update(state=CallbackState.DEAD)
            log.error("Optimove refused %s (HTTP %s): dead letter", row.idempotency_key, result.http_status)
        else:
            values.update(next_attempt_at=utcnow() + doubled(BACKOFF_BASE, row.attempts, BACKOFF_MAX))
        db.session.execute(update(OptimoveCallback).where(OptimoveCallback.id == callback_id).values(**values)
                           .execution_options(synchronize_session=False))
        db.session.commit()
        counts[result.outcome] += 1
        metrics.OPTIMOVE_CALLBACKS.labels(row.kind, result.outcome).inc()
    return counts


def _claim(callback_id: int, now: datetime) -> Any:
    """Hold row ``callback_id`` for :data:`CLAIM` (its ``next_attempt_at`` moves on);
    the row as it was, or None when another sender has it."""
    row = db.session.execute(
        update(OptimoveCallback)
        .where(OptimoveCallback.id == callback_id, OptimoveCallback.state == CallbackState.PENDING,
               OptimoveCallback.next_attempt_at <= now)
        .values(next_attempt_at=utcnow() + CLAIM)
        .returning(OptimoveCallback.kind, OptimoveCallback.body, OptimoveCallback.idempotency_key,
                   OptimoveCallback.attempts)
        .execution_options(synchronize_session=False)).first()
    db.session.commit()
    return row


class NotRetryable(DomainError):
    """Only a call that has not gone through (DEAD, or PENDING) can be sent again."""

    code = "ALREADY_SENT"


def retry_dead(callback_id: int, now: datetime | None = None) -> None:
    """Send a DEAD (or waiting PENDING) callback again now, the same bytes and key (not committed)."""
    callback = db.session.get(OptimoveCallback, callback_id, with_for_update=True)
    if callback is None:
        raise NotFound(f"There is no Optimove callback {callback_id}.")
    if callback.state == CallbackState.SENT:
        raise NotRetryable(f"Optimove callback {callback_id} went through already.")
    if callback.state == CallbackState.SUPERSEDED:
        raise NotRetryable(f"Optimove callback {callback_id} was superseded by a later one: sending it would undo it.",
                           problem="CALLBACK_SUPERSEDED")
    callback.state = CallbackState.PENDING
    callback.next_attempt_at = now or utcnow()
    db.session.flush()
