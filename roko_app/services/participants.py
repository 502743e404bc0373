"""Operators' decisions about a participant (a number that texted the campaign)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import Participant
from roko_app.services.errors import NotFound

log = logging.getLogger(__name__)


def unblock(msisdn: str, now: datetime | None = None) -> bool:
    """Lift the block of the participant ``msisdn`` (an operator's decision).

    Ends the block now (``blocked_until`` = now) and clears ``block_notified_at``, so the
    number's next SMS is classified normally and the failures that led to the block no
    longer count towards the next one (a later block is announced again). Returns whether the
    number was blocked at ``now``; raises ``NotFound`` for an unknown number. Not committed.
    """
    now = now or utcnow()
    participant = db.session.scalars(
        select(Participant).where(Participant.msisdn == msisdn).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if participant is None:
        raise NotFound(f"No participant has the number {msisdn}.")
    was_blocked = participant.blocked_until is not None and participant.blocked_until > now
    if was_blocked:
        participant.blocked_until = now
    participant.block_notified_at = None
    db.session.flush()
    if was_blocked:
        log.info("participant %s unblocked", participant.id)
    return was_blocked
