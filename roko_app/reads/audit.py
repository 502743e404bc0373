"""The audit log: who did what, newest first, in keyset pages."""

from __future__ import annotations

from sqlalchemy import select

from roko_app.models.accounts import AuditEvent
from roko_app.reads.pager import Cursor, Page, keyset_page


def audit_page(*, before: Cursor | None = None, after: Cursor | None = None,
               limit: int | None = None) -> Page[AuditEvent]:
    """Audit events, newest first (by ``at``, ``id``)."""
    return keyset_page(select(AuditEvent), AuditEvent.at, AuditEvent.id, before=before, after=after, limit=limit)
