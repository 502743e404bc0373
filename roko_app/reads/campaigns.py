"""Optimove batches as the console shows them: the list (newest first, keyset pages)
with each batch's progress, and one batch's recipients, texts, rejections and the time
its queued messages still need at the port's sending rate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, tuple_

from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, OutboundSms
from roko_app.reads.pager import Cursor, Page, keyset_page
from roko_app.services.errors import NotFound

STATUS_COLUMNS = ("QUEUED", "SENDING", "SENT", "FAILED", "CANCELLED")
#: What the console counts for a batch, each status in one group: handed to the gateway
#: (whatever its delivery), never accepted by it, withdrawn, and still to send.
PROGRESS_GROUPS: dict[str, tuple[str, ...]] = {
    "sent": ("SENT", "DELIVERED", "UNDELIVERED", "EXPIRED", "UNREPORTED", "UNCERTAIN"),
    "failed": ("FAILED",),
    "cancelled": ("CANCELLED",),
    "queued": ("QUEUED", "SENDING"),
}
_WAITING = ("QUEUED", "SENDING")


@dataclass(frozen=True, slots=True)
class BatchSummary:
    batch: CampaignBatch
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return self.batch.accepted + self.batch.rejected

    @property
    def done(self) -> int:
        # Every status past the queue: SENT, FAILED, CANCELLED, and the delivery ones
        # (DELIVERED, UNDELIVERED, EXPIRED, UNREPORTED, UNCERTAIN) it moves on to.
        return sum(count for status, count in self.counts.items() if status not in ("QUEUED", "SENDING"))

    @property
    def groups(self) -> dict[str, int]:
        """Messages by :data:`PROGRESS_GROUPS` (sent, failed, cancelled, queued)."""
        return {name: sum(self.counts.get(status, 0) for status in statuses)
                for name, statuses in PROGRESS_GROUPS.items()}

    @property
    def progress(self) -> int | None:
        """Per cent of the batch's messages past the queue, cancelled ones left out of
        both sides; None when every message was cancelled (nothing was to be sent)."""
        if not self.batch.accepted:
            return 100
        cancelled = self.groups["cancelled"]
        if cancelled >= self.batch.accepted:
            return None
        return round(100 * (self.done - cancelled) / (self.batch.accepted - cancelled))

    @property
    def delivered(self) -> int:
        """Messages the gateway reported delivered to the phone."""
        return self.counts.get("DELIVERED", 0)

    @property
    def delivery_rate(self) -> int | None:
        """Per cent of the messages handed to the gateway that it reported delivered (the
        others: not delivered, or no report yet); None before any was handed over."""
        sent = self.groups["sent"]
        return round(100 * self.delivered / sent) if sent else None

    @property
    def cancellable(self) -> bool:
        return self.batch.cancelled_at is None and self.counts.get("QUEUED", 0) > 0


def batch_summaries(*, before: Cursor | None = None, after: Cursor | None = None,
                    limit: int | None = None) -> Page[BatchSummary]:
    """Batches, newest first (by ``received_at``, ``id``), with their messages' statuses."""
    page = keyset_page(select(CampaignBatch), CampaignBatch.received_at, CampaignBatch.id,
                       before=before, after=after, limit=limit)
    counts = status_counts(batch.id for batch in page.rows)
    return page.with_rows([BatchSummary(batch, counts.get(batch.id, {})) for batch in page.rows])


def batch_summary(batch_id: int) -> BatchSummary:
    batch = db.session.get(CampaignBatch, batch_id)
    if batch is None:
        raise NotFound("No such batch.")
    return BatchSummary(batch, status_counts([batch_id]).get(batch_id, {}))


def status_counts(batch_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{batch id: {status: messages}}`` for the batches ``batch_ids``."""
    ids = list(batch_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(OutboundSms.campaign_batch_id, OutboundSms.status, func.count())
        .where(OutboundSms.campaign_batch_id.in_(ids)).group_by(OutboundSms.campaign_batch_id, OutboundSms.status)
    )
    counts: dict[int, dict[str, int]] = {}
    for batch_id, status, count in rows:
        counts.setdefault(batch_id, {})[status] = count
    return counts


def batch_messages(batch_id: int, limit: int = 200, after_id: int | None = None) -> list[OutboundSms]:
    """The batch's recipients in the batch's order, ``limit`` from after the message ``after_id``."""
    query = select(OutboundSms).where(OutboundSms.campaign_batch_id == batch_id).order_by(OutboundSms.id).limit(limit)
    if after_id is not None:
        query = query.where(OutboundSms.id > after_id)
    return list(db.session.scalars(query))


def batch_texts(batch_id: int, limit: int = 5) -> list[tuple[str, int]]:
    """The batch's distinct texts, most used first, with how many messages carry each."""
    count = func.count().label("n")
    rows = db.session.execute(select(OutboundSms.text, count).where(OutboundSms.campaign_batch_id == batch_id)
                              .group_by(OutboundSms.text).order_by(count.desc(), OutboundSms.text).limit(limit))
    return [(text, n) for text, n in rows]


@dataclass(frozen=True, slots=True)
class Eta:
    """How long a batch's queued messages still need: ``messages`` to send on its port
    (theirs and those the worker sends first), at ``rate`` SMS/s, from ``start``."""

    messages: int
    rate: float
    start: datetime

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.messages / self.rate)

    @property
    def finish(self) -> datetime:
        return self.start + self.duration


def batch_eta(batch_id: int, rate: float, now: datetime) -> Eta | None:
    """The batch's ETA at ``rate`` SMS/s per port, or None (nothing queued, or no rate).

    Its port sends, before its last queued message, every waiting message of a higher
    priority and those of its own priority due before it (the worker's claim order), one
    every ``1 / rate`` seconds; a batch scheduled later starts at its first message's time."""
    if rate <= 0:
        return None
    last = db.session.execute(
        select(OutboundSms.port, OutboundSms.priority, OutboundSms.next_attempt_at, OutboundSms.id)
        .where(OutboundSms.campaign_batch_id == batch_id, OutboundSms.status.in_(_WAITING))
        .order_by(OutboundSms.next_attempt_at.desc(), OutboundSms.id.desc()).limit(1)).first()
    if last is None:
        return None
    first_due = db.session.scalar(select(func.min(OutboundSms.next_attempt_at)).where(
        OutboundSms.campaign_batch_id == batch_id, OutboundSms.status.in_(_WAITING)))
    ahead = db.session.scalar(select(func.count()).select_from(OutboundSms).where(
        OutboundSms.port == last.port, OutboundSms.status.in_(_WAITING),
        or_(OutboundSms.priority > last.priority,
            and_(OutboundSms.priority == last.priority,
                 tuple_(OutboundSms.next_attempt_at, OutboundSms.id) <= (last.next_attempt_at, last.id)))))
    return Eta(int(ahead or 0), rate, max(now, first_due) if first_due else now)


def batch_rejections(batch_id: int, limit: int = 200) -> list[CampaignRejection]:
    return list(db.session.scalars(select(CampaignRejection).where(CampaignRejection.batch_id == batch_id)
                                   .order_by(CampaignRejection.position).limit(limit)))
