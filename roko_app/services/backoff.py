"""The doubling delay of every retry (classification, sends, reports to Optimove)."""

from __future__ import annotations

from datetime import timedelta

#: More doublings than this change nothing once capped (2**64 times any delay passes any cap).
_MAX_DOUBLINGS = 64


def doubled(base: timedelta, doublings: int, cap: timedelta) -> timedelta:
    """``base`` doubled ``doublings`` times (none below zero), never more than ``cap``.

    Worked out in seconds and capped before it becomes a ``timedelta``, so no number of
    attempts overflows a date (``timedelta(days=1) * 2**30`` alone would)."""
    seconds = base.total_seconds() * 2.0 ** min(max(doublings, 0), _MAX_DOUBLINGS)
    return timedelta(seconds=min(seconds, cap.total_seconds()))
