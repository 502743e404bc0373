"""Constant-time checks of shared secrets sent in headers."""

from __future__ import annotations

import hmac


def token_matches(presented: str | None, expected: str | None) -> bool:
    """True when both are non-empty and equal; compared in constant time."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
