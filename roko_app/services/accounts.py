"""Console accounts: creating users, logging in (throttled), roles, and the audit log."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from roko_app.database.types import utcnow
from roko_app.extensions import db
from roko_app.models.accounts import AuditEvent, LoginFailure, Role, User
from roko_app.services.errors import AlreadyExists, DomainError, InvalidInput, NotFound

log = logging.getLogger(__name__)

EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,}$")
MIN_PASSWORD_LENGTH = 10
# A hash computed for unknown accounts, so a log-in takes as long whether or not the
# account exists (no timing hint).
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class LoginThrottled(DomainError):
    code = "LOGIN_THROTTLED"


class CannotChangeSelf(DomainError):
    """An admin may not change their own role or deactivate themselves (no lock-out)."""

    code = "CANNOT_CHANGE_SELF"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Any) -> LoginPolicy:
        return cls(int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]), int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
                   timedelta(minutes=float(config["LOGIN_WINDOW_MINUTES"])))


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(email: str, role: str, password: str | None = None) -> tuple[User, str]:
    """A new account; returns it and its password (generated when none is given)."""
    email = normalise_email(email)
    if not EMAIL_PATTERN.fullmatch(email):
        raise InvalidInput("email", "This is not an e-mail address.")
    if role not in {r.value for r in Role}:
        raise InvalidInput("role", f"The role must be one of {', '.join(r.value for r in Role)}.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AlreadyExists(f"An account {email} exists already.")
    password = password or secrets.token_urlsafe(12)
    check_password_strength(password)
    user = User(email=email, role=role, active=True, password_hash=generate_password_hash(password),
                session_token=secrets.token_hex(16), created_at=utcnow())
    db.session.add(user)
    db.session.flush()
    return user, password


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader: ``"<id>:<session token>"``; a changed token logs the session out."""
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not secrets.compare_digest(user.session_token, token):
        return None
    return user


def authenticate(email: str, password: str, address: str, policy: LoginPolicy, now: datetime | None = None) -> User | None:
    """The user, or None for a wrong e-mail or password (indistinguishable).

    Raises ``LoginThrottled`` when the account or the address has failed too often in
    the window, before the password is even checked.
    """
    now = now or utcnow()
    email = normalise_email(email)
    since = now - policy.window
    by_account = db.session.scalar(select(func.count()).select_from(LoginFailure)
                                   .where(LoginFailure.email == email, LoginFailure.at > since))
    by_address = db.session.scalar(select(func.count()).select_from(LoginFailure)
                                   .where(LoginFailure.address == address, LoginFailure.at > since))
    if by_account >= policy.per_account or by_address >= policy.per_address:
        raise LoginThrottled("Too many failed log-ins; try again later.")
    user = db.session.scalar(select(User).where(User.email == email))
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not valid or not user.active:
        db.session.add(LoginFailure(email=email, address=address, at=now))
        log.warning("failed log-in from %s", address)
        return None
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == email))
    user.last_login_at = now
    return user


def set_password(user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = generate_password_hash(password)
    user.session_token = secrets.token_hex(16)


def set_role(user: User, role: str) -> None:
    if role not in {r.value for r in Role}:
        raise InvalidInput("role", f"The role must be one of {', '.join(r.value for r in Role)}.")
    user.role = role
    user.session_token = secrets.token_hex(16)


def set_active(user: User, active: bool) -> None:
    user.active = active
    user.session_token = secrets.token_hex(16)


def change_role(actor: User, user: User, role: str) -> bool:
    """``set_role`` on behalf of ``actor``; refuses ``actor``'s own account. True if it changed."""
    if actor.id == user.id:
        raise CannotChangeSelf("You cannot change your own role.")
    if user.role == role:
        return False
    set_role(user, role)
    return True


def change_active(actor: User, user: User, active: bool) -> bool:
    """``set_active`` on behalf of ``actor``; refuses ``actor``'s own account. True if it changed."""
    if actor.id == user.id:
        raise CannotChangeSelf("You cannot deactivate your own account.")
    if user.active == active:
        return False
    set_active(user, active)
    return True


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.email)))


def audit(actor: str, action: str, target: str | None = None, details: dict[str, Any] | None = None,
          address: str | None = None) -> AuditEvent:
    """Record who did what (part of the caller's transaction)."""
    event = AuditEvent(at=utcnow(), actor=actor, action=action, target=target, details=details, address=address)
    db.session.add(event)
    return event
