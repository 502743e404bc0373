"""Console accounts, failed log-ins (for throttling) and the audit log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from roko_app.database.types import BigIntId, UTCDateTime, utcnow
from roko_app.extensions import db


class Role(enum.StrEnum):
    ADMIN = "admin"  # manages users and API keys, and everything an operator does
    OPERATOR = "operator"  # sends messages, manages codes and templates
    VIEWER = "viewer"  # reads only


ROLE_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class User(UserMixin, db.Model):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-case
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.VIEWER)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[Optional[str]] = mapped_column(String(8))
    # Part of every session cookie; changes at log-out, on a new password or role and on
    # (de)activation, so every earlier cookie of the account stops working.
    session_token: Mapped[str] = mapped_column(String(64))
    # Set when an admin unlocks the account: failed log-ins before it no longer count.
    login_unlocked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    # Set when an admin resets the password (a one-time one): the console asks for a new
    # password before anything else.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def get_id(self) -> str:
        """Flask-Login's session id: the user and the current session token."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class LoginFailure(db.Model):
    """A failed log-in, counted per account and per address to throttle guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (
        Index("ix_login_failure_email_at", "email", "at"),
        Index("ix_login_failure_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(db.Model):
    """Who did what, when: log-ins, sends, re-queues, template edits, imports, users, keys."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_at", "at", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))  # an email, "cli", or "system"
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[Optional[str]] = mapped_column(String(254))
    details: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    address: Mapped[Optional[str]] = mapped_column(String(64))
