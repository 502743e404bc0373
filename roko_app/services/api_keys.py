"""Issuing, listing, revoking and checking per-caller API keys."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta

from sqlalchemy import select

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models import ApiKey
from roko_app.services.errors import AlreadyExists, InvalidInput, NotFound

log = logging.getLogger(__name__)

KEY_PREFIX = "roko_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# last_used_at is refreshed at most this often, so a busy caller is not a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(name: str) -> tuple[ApiKey, str]:
    """A new key for caller ``name``: the row and the key itself (shown once, never stored)."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput("name", "A caller name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    if db.session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise AlreadyExists(f"A key named {name!r} exists already (names are never reused); choose another name.")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, key_hash=hash_key(key), key_prefix=key[: len(KEY_PREFIX) + 6], created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    log.info("api key %r created", name)
    return row, key


def ensure(name: str, key: str) -> ApiKey:
    """Register a known key for ``name`` unless that name exists (dev demo data only)."""
    row = db.session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        row = ApiKey(name=name, key_hash=hash_key(key), key_prefix=key[: len(KEY_PREFIX) + 6], created_at=utcnow())
        db.session.add(row)
        db.session.flush()
    return row


def list_keys() -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.name)))


def revoke(name: str) -> ApiKey:
    row = db.session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise NotFound(f"No API key named {name!r}.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        log.info("api key %r revoked", name)
    return row


def authenticate(presented: str | None) -> ApiKey | None:
    """The active key matching ``presented``, or None. Refreshes its last-used time."""
    if not presented or not presented.startswith(KEY_PREFIX) or len(presented) > 128:
        return None
    digest = hash_key(presented)
    row = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    # The look-up is by hash (which reveals nothing about the key); the final check is
    # constant-time anyway.
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    return row
