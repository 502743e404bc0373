"""API keys issued per caller of the internal API; only a hash of each key is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class ApiKey(db.Model):
    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    # The caller's name ("ops-dashboard"); unique for ever, so outbound rows that name a
    # caller keep meaning the same caller after its key is revoked.
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the whole key (keys are 256-bit random, so a plain hash is enough).
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the key, to recognise it in listings.
    key_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
