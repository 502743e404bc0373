"""The calls to Optimove as the console shows them: counts by state, and one state's rows, newest first."""

from __future__ import annotations

from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import OptimoveCallback
from roko_app.reads.pager import Cursor, Page, keyset_page


def callback_counts() -> dict[str, int]:
    """``{state: calls}`` (PENDING, SENT, DEAD)."""
    rows = db.session.execute(select(OptimoveCallback.state, func.count()).group_by(OptimoveCallback.state))
    return {state: count for state, count in rows}


def callbacks_page(state: str, *, before: Cursor | None = None, after: Cursor | None = None,
                   limit: int | None = None) -> Page[OptimoveCallback]:
    """The calls in ``state``, newest first (by ``created_at``, ``id``)."""
    return keyset_page(select(OptimoveCallback).where(OptimoveCallback.state == state), OptimoveCallback.created_at,
                       OptimoveCallback.id, before=before, after=after, limit=limit)
