"""The audit log: who did what, newest first, in keyset pages, filtered by who, action
and days (of the campaign's time zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select

from roko_app.configuration import CAMPAIGN_TZ
from roko_app.extensions import db
from roko_app.models.accounts import AuditEvent
from roko_app.reads.pager import Cursor, Page, keyset_page
from roko_app.reads.values import contains_pattern, day_start


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """Every field optional, all of them combined (AND)."""

    actor: str | None = None  # part of the actor (an e-mail, "cli", "system"), any case
    action: str | None = None  # an action (user.unlock), or its family with a final dot (user.)
    date_from: date | None = None  # inclusive, a day in ``tz``
    date_to: date | None = None  # inclusive
    tz: tzinfo = CAMPAIGN_TZ

    def conditions(self) -> list[Any]:
        conditions: list[Any] = []
        if self.actor:
            conditions.append(func.lower(AuditEvent.actor).like(contains_pattern(self.actor), escape="\\"))
        if self.action:
            conditions.append(AuditEvent.action.startswith(self.action, autoescape=True) if self.action.endswith(".")
                              else AuditEvent.action == self.action)
        if self.date_from is not None:
            conditions.append(AuditEvent.at >= day_start(self.date_from, self.tz))
        if self.date_to is not None:
            conditions.append(AuditEvent.at < day_start(self.date_to + timedelta(days=1), self.tz))
        return conditions


def audit_page(filters: AuditFilters | None = None, *, before: Cursor | None = None, after: Cursor | None = None,
               limit: int | None = None) -> Page[AuditEvent]:
    """Audit events matching ``filters``, newest first (by ``at``, ``id``)."""
    query = select(AuditEvent).where(*(filters or AuditFilters()).conditions())
    return keyset_page(query, AuditEvent.at, AuditEvent.id, before=before, after=after, limit=limit)


def audit_actions() -> list[str]:
    """Every action recorded so far, sorted (for the filter's choices)."""
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)))
