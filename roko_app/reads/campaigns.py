"""Optimove batches as the console shows them: the list (newest first, keyset pages)
with each batch's progress, and one batch's recipients and rejections."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, OutboundSms
from roko_app.reads.pager import Cursor, Page, keyset_page
from roko_app.services.errors import NotFound

STATUS_COLUMNS = ("QUEUED", "SENDING", "SENT", "FAILED", "CANCELLED")


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
    def progress(self) -> int:
        """Per cent of queued messages that reached a final state."""
        return 100 if not self.batch.accepted else round(100 * self.done / self.batch.accepted)

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


def batch_rejections(batch_id: int, limit: int = 200) -> list[CampaignRejection]:
    return list(db.session.scalars(select(CampaignRejection).where(CampaignRejection.batch_id == batch_id)
                                   .order_by(CampaignRejection.position).limit(limit)))
