"""The inbox: how many SMS wait to be classified, and the parked ones an operator must look at."""

from __future__ import annotations

from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import InboundSms
from roko_app.reads.pager import Cursor, Page, keyset_page


def parked_page(*, before: Cursor | None = None, after: Cursor | None = None,
                limit: int | None = None) -> Page[InboundSms]:
    """SMS whose classification kept failing, newest parked first (by ``parked_at``, ``id``)."""
    return keyset_page(select(InboundSms).where(InboundSms.parked_at.is_not(None), InboundSms.classified_at.is_(None)),
                       InboundSms.parked_at, InboundSms.id, before=before, after=after, limit=limit)


def waiting_count() -> int:
    """SMS stored and not classified yet (parked ones included)."""
    return db.session.scalar(select(func.count()).select_from(InboundSms).where(InboundSms.classified_at.is_(None))) or 0
