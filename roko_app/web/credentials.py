"""Shared secrets: constant-time header tokens and ``x-hub-signature`` HMACs of raw bodies."""

from __future__ import annotations

import hashlib
import hmac
import string


def token_matches(presented: str | None, expected: str | None) -> bool:
    """True when both are non-empty and equal; compared in constant time."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_HEX = frozenset(string.hexdigits)


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The header value for ``body``: e.g. ``sha256=<lowercase hex>``."""
    digest = hmac.new(secret.encode("utf-8"), body, ALGORITHMS[algorithm]).hexdigest()
    return f"{algorithm}={digest}"


def signature_problem(header: str | None, body: bytes, secret: str) -> str | None:
    """None when ``header`` is a valid signature of ``body``; otherwise why not
    (never echoing the header or the secret). Compared in constant time."""
    if not secret:
        return "no signing secret is configured"
    if not header:
        return "missing x-hub-signature"
    algorithm, separator, received = header.strip().partition("=")
    if not separator:
        return "malformed x-hub-signature (expected algorithm=hex)"
    digestmod = ALGORITHMS.get(algorithm.strip().lower())
    if digestmod is None:
        return f"unsupported signature algorithm (use {', '.join(ALGORITHMS)})"
    received = received.strip().lower()
    expected = hmac.new(secret.encode("utf-8"), body, digestmod).hexdigest()
    if len(received) != len(expected) or not _HEX.issuperset(received):
        return "malformed signature digest"
    if not hmac.compare_digest(received.encode("ascii"), expected.encode("ascii")):
        return "signature mismatch"
    return None
