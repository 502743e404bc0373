"""Console accounts: creating users, logging in (throttled), roles, and the audit log."""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, delete, func, or_, select, text
from werkzeug.security import check_password_hash, generate_password_hash

from roko_app import metrics
from roko_app.database.sqlite import begin_write
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
    """Too many failed log-ins: ``scope`` is ``"address"`` (this address is refused, for
    this account or for every account) or ``"account"`` (the account is locked for everyone,
    after guessing from many addresses, until the window passes or an admin unlocks it)."""

    code = "LOGIN_THROTTLED"

    def __init__(self, message: str, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


class CannotChangeSelf(DomainError):
    """An admin may not change their own role or deactivate themselves (no lock-out)."""

    code = "CANNOT_CHANGE_SELF"


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """Failed log-ins allowed within ``window`` before refusing (docs/security.md):
    ``per_account_address`` from one address on one account (that address only is refused
    for that account), ``per_address`` from one address on any accounts (that address is
    refused), ``per_account`` on one account from every address together (the account is
    locked for everyone: distributed guessing)."""

    per_account_address: int = 5
    per_address: int = 20
    per_account: int = 30
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config: Any) -> LoginPolicy:
        return cls(int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS"]), int(config["LOGIN_MAX_FAILURES_PER_ADDRESS"]),
                   int(config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]), timedelta(minutes=float(config["LOGIN_WINDOW_MINUTES"])))


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """A log-in attempt recorded (as a failure) before its password is checked."""

    email: str
    address: str
    at: datetime
    lock_scopes: tuple[str, ...]  # the locks this attempt sets if its password is wrong


#: The longest e-mail an account or a failed log-in records (``app_user.email``).
EMAIL_MAX_LENGTH = 254


def normalise_email(email: str) -> str:
    """Trimmed and lower-cased. Lower-casing can lengthen a text ("İ" becomes two
    characters), so a form's length check on what was typed does not bound the result."""
    return email.strip().lower()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")


def create_user(email: str, role: str, password: str | None = None) -> tuple[User, str]:
    """A new account; returns it and its password (generated when none is given)."""
    email = normalise_email(email)
    if len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(email):
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


def throttle_address(address: str) -> str:
    """The address failures are counted under: an IPv6 address by its /64 network (one
    subscriber's whole range), anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# PostgreSQL: attempts on one account, then from one address, wait for each other until
# the transaction ends (always taken in that order, so no two attempts deadlock).
_LOCK_LOGIN = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))").bindparams(
    bindparam("key", type_=String()))


def _serialise_login(email: str, address: str) -> None:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_LOGIN, {"key": "roko-login-account:" + email})
        session.execute(_LOCK_LOGIN, {"key": "roko-login-address:" + address})
    else:
        begin_write(session)  # SQLite: BEGIN IMMEDIATE serialises every log-in


def _failures(*conditions: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(LoginFailure).where(*conditions)) or 0


def begin_login(email: str, address: str, policy: LoginPolicy, now: datetime | None = None) -> LoginAttempt:
    """Check the throttles and record this attempt as a failure, atomically per account and
    address; the caller commits, then calls :func:`finish_login`. So however many attempts
    arrive at once, at most the limit ever reach the password check.

    Raises ``LoginThrottled`` (nothing recorded) when a limit is reached.
    """
    now = now or utcnow()
    # Cut to what an account's e-mail can be: a longer one names no account, and is
    # recorded and throttled as its first EMAIL_MAX_LENGTH characters.
    email, address = normalise_email(email)[:EMAIL_MAX_LENGTH], throttle_address(address)
    _serialise_login(email, address)
    since = now - policy.window
    unlocked_at = db.session.scalar(select(User.login_unlocked_at).where(User.email == email))
    account_since = max(since, unlocked_at) if unlocked_at is not None else since
    by_pair = _failures(LoginFailure.email == email, LoginFailure.address == address, LoginFailure.at > account_since)
    by_address = _failures(LoginFailure.address == address, LoginFailure.at > since)
    by_account = _failures(LoginFailure.email == email, LoginFailure.at > account_since)
    if by_account >= policy.per_account:
        metrics.LOGIN_FAILURES.labels("throttled_account").inc()
        raise LoginThrottled("This account is locked after failed log-ins from many addresses.", "account")
    if by_pair >= policy.per_account_address or by_address >= policy.per_address:
        metrics.LOGIN_FAILURES.labels("throttled_address").inc()
        raise LoginThrottled("Too many failed log-ins from this address; try again later.", "address")
    db.session.add(LoginFailure(email=email, address=address, at=now))
    scopes = tuple(scope for scope, count, limit in (("account+address", by_pair, policy.per_account_address),
                                                     ("address", by_address, policy.per_address),
                                                     ("account", by_account, policy.per_account))
                   if count + 1 == limit)
    return LoginAttempt(email, address, now, scopes)


def finish_login(attempt: LoginAttempt, password: str, policy: LoginPolicy, address: str | None = None) -> User | None:
    """Check the password of an attempt :func:`begin_login` recorded. The user on success
    (this address's failures on the account are forgotten); None for a wrong e-mail or
    password or an inactive account (indistinguishable): the failure stays recorded and
    audited, with the lock it sets. ``address`` is the full address for the audit log."""
    user = db.session.scalar(select(User).where(User.email == attempt.email))
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password)
    if user is not None and valid and user.active:
        db.session.execute(delete(LoginFailure).where(LoginFailure.email == attempt.email,
                                                      LoginFailure.address == attempt.address))
        user.last_login_at = attempt.at
        return user
    shown = address or attempt.address
    known = user is not None
    metrics.LOGIN_FAILURES.labels("unknown_account" if not known else "inactive_account" if valid and not user.active
                                  else "wrong_password").inc()
    # The e-mail of an existing account only: what was typed for an unknown one may be a password.
    audit("anonymous", "login.failed", attempt.email if known else None, None if known else {"account": "unknown"}, shown)
    log.warning("failed log-in from %s", shown)
    for scope in attempt.lock_scopes:
        until = attempt.at + policy.window
        audit("system", "login.lock", attempt.email if known and scope != "address" else None,
              {"scope": scope, "until": until.isoformat(timespec="seconds")}, shown)
        log.warning("log-in lock (%s) from %s", scope, shown)
    return None


def authenticate(email: str, password: str, address: str, policy: LoginPolicy, now: datetime | None = None) -> User | None:
    """:func:`begin_login` then :func:`finish_login` in the caller's one transaction (the CLI
    and tests; the log-in page commits between the two so the lock is not held while hashing)."""
    return finish_login(begin_login(email, address, policy, now), password, policy, address)


def end_sessions(user: User) -> None:
    """Every session cookie issued to ``user`` so far stops working (a new session token)."""
    user.session_token = secrets.token_hex(16)


def unlock(user: User, policy: LoginPolicy, now: datetime | None = None) -> int:
    """Forget the failed log-ins on ``user``'s account so far: its account lock and the
    locks of single addresses on it go (an address refused for every account stays
    refused). Returns how many failures in the window were forgotten."""
    now = now or utcnow()
    since = now - policy.window
    if user.login_unlocked_at is not None:
        since = max(since, user.login_unlocked_at)
    forgotten = _failures(LoginFailure.email == user.email, LoginFailure.at > since, LoginFailure.at <= now)
    user.login_unlocked_at = now
    return forgotten


@dataclass(frozen=True, slots=True)
class LockState:
    failures: int  # failed log-ins on the account in the window (since the last unlock)
    locked: bool  # locked for everyone
    locked_addresses: int  # addresses refused for this account


def lock_states(policy: LoginPolicy, now: datetime | None = None) -> dict[str, LockState]:
    """The accounts with failed log-ins in the window, by e-mail (for the users page)."""
    now = now or utcnow()
    since = now - policy.window
    rows = db.session.execute(
        select(LoginFailure.email, LoginFailure.address, func.count())
        .join(User, User.email == LoginFailure.email)
        .where(LoginFailure.at > since, or_(User.login_unlocked_at.is_(None), LoginFailure.at > User.login_unlocked_at))
        .group_by(LoginFailure.email, LoginFailure.address)).all()
    per_email: dict[str, list[int]] = {}
    for email, _address, count in rows:
        per_email.setdefault(email, []).append(count)
    return {email: LockState(sum(counts), sum(counts) >= policy.per_account,
                             sum(1 for c in counts if c >= policy.per_account_address))
            for email, counts in per_email.items()}


def set_password(user: User, password: str) -> None:
    check_password_strength(password)
    user.password_hash = generate_password_hash(password)
    end_sessions(user)


class WrongPassword(DomainError):
    """The current password given to change it is not the account's."""

    code = "WRONG_PASSWORD"


def change_own_password(user: User, current: str, new: str) -> None:
    """The account's holder chooses a new password (knowing the current one); every
    session of the account ends (the caller logs the current one in again), and a forced
    change is done."""
    if not check_password_hash(user.password_hash, current):
        raise WrongPassword("The current password is wrong.")
    if secrets.compare_digest(current.encode(), new.encode()):
        raise InvalidInput("new_password", "The new password must differ from the current one.")
    set_password(user, new)
    user.must_change_password = False


def reset_password(actor: User, user: User) -> str:
    """An admin gives ``user`` a one-time password (returned, to be shown once); its
    sessions end and it must choose its own at the next log-in. Not for ``actor``'s own
    account (:func:`change_own_password` is)."""
    if actor.id == user.id:
        raise CannotChangeSelf("Change your own password from your account page.")
    one_time = secrets.token_urlsafe(12)
    set_password(user, one_time)
    user.must_change_password = True
    return one_time


def set_role(user: User, role: str) -> None:
    if role not in {r.value for r in Role}:
        raise InvalidInput("role", f"The role must be one of {', '.join(r.value for r in Role)}.")
    user.role = role
    end_sessions(user)


def set_active(user: User, active: bool) -> None:
    user.active = active
    end_sessions(user)


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


def user_by_email(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
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
