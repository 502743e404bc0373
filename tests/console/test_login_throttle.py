"""Log-in throttling: an address that guesses is refused (for that account, or for every
account), an account is locked for everyone only by guessing from many addresses, an admin
unlocks it, every failure and lock is audited, and concurrent guesses cannot beat the count."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests
from freezegun import freeze_time
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import AuditEvent, LoginFailure, User
from roko_app.services import accounts
from tests.factories import PASSWORD, T0, make_user
from tests.helpers import csrf_from, log_in, post_login

WRONG = "wrong password, guess 1"
VICTIM = "victim@roko.test"


@pytest.fixture
def throttled_app(make_app: Any) -> Any:
    """Small limits: 3 per account and address, 6 per address, 5 per account, 10 minutes."""
    app = make_app(LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS=3, LOGIN_MAX_FAILURES_PER_ADDRESS=6,
                   LOGIN_MAX_FAILURES_PER_ACCOUNT=5, LOGIN_WINDOW_MINUTES=10)
    make_user(app, VICTIM, "viewer")
    make_user(app, "other@roko.test", "viewer")
    make_user(app, "admin@roko.test", "admin")
    return app


def attempt(app: Any, email: str, password: str, address: str) -> int:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return post_login(client, email, password).status_code


def audits(app: Any, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.session.expunge_all()
        return rows


def failures(app: Any) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LoginFailure))


def test_defaults_are_documented_config_keys(app: Any) -> None:
    policy = accounts.LoginPolicy.from_config(app.config)
    assert policy == accounts.LoginPolicy(per_account_address=5, per_address=20, per_account=30,
                                          window=timedelta(minutes=15))
    # A single address reaches its own limit long before it could lock the account.
    assert policy.per_account > policy.per_account_address


def test_an_address_is_refused_for_the_account_at_the_limit_and_others_still_log_in(throttled_app: Any) -> None:
    with freeze_time(T0):
        for _ in range(2):
            assert attempt(throttled_app, VICTIM, WRONG, "10.0.0.1") == 200
        assert attempt(throttled_app, VICTIM, WRONG, "10.0.0.1") == 200  # limit - 1 failures before: still checked
        response_code = attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.1")  # limit reached: refused, even right
        assert response_code == 429
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.2") == 302  # the owner elsewhere: no lock-out
        assert attempt(throttled_app, "other@roko.test", PASSWORD, "10.0.0.1") == 302  # other accounts from there
    assert failures(throttled_app) == 3  # refused attempts are neither checked nor counted


def test_the_refusal_says_to_wait(throttled_app: Any) -> None:
    with freeze_time(T0):
        for _ in range(3):
            attempt(throttled_app, VICTIM, WRONG, "10.0.0.1")
        client = throttled_app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.0.0.1"
        page = post_login(client, VICTIM, PASSWORD).get_data(as_text=True)
    assert "Trop de tentatives échouées" in page and "verrouillé" not in page


def test_the_lock_ends_exactly_when_the_window_has_passed(throttled_app: Any) -> None:
    with freeze_time(T0) as frozen:
        for _ in range(3):
            attempt(throttled_app, VICTIM, WRONG, "10.0.0.1")
        frozen.move_to(T0 + timedelta(minutes=10) - timedelta(microseconds=1))
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.1") == 429
        frozen.move_to(T0 + timedelta(minutes=10))
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.1") == 302


def test_an_address_guessing_many_accounts_is_refused_for_every_account(throttled_app: Any) -> None:
    with freeze_time(T0):
        for i in range(5):  # limit - 1, on accounts that do not exist
            assert attempt(throttled_app, f"guess{i}@roko.test", WRONG, "10.0.0.9") == 200
        assert attempt(throttled_app, VICTIM, WRONG, "10.0.0.9") == 200  # the 6th is still checked
        assert attempt(throttled_app, "other@roko.test", PASSWORD, "10.0.0.9") == 429
        assert attempt(throttled_app, "other@roko.test", PASSWORD, "10.0.0.10") == 302


def test_guessing_from_many_addresses_locks_the_account_for_everyone(throttled_app: Any) -> None:
    with freeze_time(T0) as frozen:
        for i in range(4):  # limit - 1 failures, each from its own address
            attempt(throttled_app, VICTIM, WRONG, f"10.1.0.{i}")
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 302  # not locked yet
        attempt(throttled_app, VICTIM, WRONG, "10.1.0.4")
        attempt(throttled_app, VICTIM, WRONG, "10.1.0.5")  # 5 failures since: locked
        client = throttled_app.test_client()
        client.environ_base["REMOTE_ADDR"] = "10.2.0.2"
        response = post_login(client, VICTIM, PASSWORD)
        assert response.status_code == 429
        assert "Ce compte est verrouillé" in response.get_data(as_text=True)
        assert attempt(throttled_app, "other@roko.test", PASSWORD, "10.1.0.5") == 302  # only this account
        frozen.move_to(T0 + timedelta(minutes=10))
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.2") == 302


def test_a_success_forgets_only_that_addresses_failures(throttled_app: Any) -> None:
    with freeze_time(T0):
        for address in ("10.0.0.1", "10.0.0.2"):
            for _ in range(2):
                attempt(throttled_app, VICTIM, WRONG, address)
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.2") == 302
        assert attempt(throttled_app, VICTIM, WRONG, "10.0.0.1") == 200  # its 3rd failure: checked
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.0.0.1") == 429  # the attacker's count was kept
        for _ in range(2):  # the owner's count starts afresh (and the account's stays below its limit)
            assert attempt(throttled_app, VICTIM, WRONG, "10.0.0.2") == 200


def test_ipv6_addresses_count_by_their_64_network() -> None:
    assert accounts.throttle_address("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert accounts.throttle_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert accounts.throttle_address("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert accounts.throttle_address("::ffff:10.0.0.1") == "10.0.0.1"
    assert accounts.throttle_address("10.0.0.1") == "10.0.0.1"
    assert accounts.throttle_address("-") == "-"


def test_one_ipv6_subscriber_cannot_escape_by_changing_address(throttled_app: Any) -> None:
    with freeze_time(T0):
        for i in range(3):
            attempt(throttled_app, VICTIM, WRONG, f"2001:db8:1:2::{i + 1}")
        assert attempt(throttled_app, VICTIM, PASSWORD, "2001:db8:1:2::99") == 429
        assert attempt(throttled_app, VICTIM, PASSWORD, "2001:db8:1:3::1") == 302


# --- the audit log ----------------------------------------------------------------------------

def test_failures_and_locks_are_audited_without_the_password(throttled_app: Any, caplog: Any) -> None:
    with freeze_time(T0):
        for _ in range(3):
            attempt(throttled_app, VICTIM, WRONG, "10.0.0.1")
        attempt(throttled_app, VICTIM, WRONG, "10.0.0.1")  # refused: not a new failure
        attempt(throttled_app, "typed-a-secret@roko.test", WRONG, "10.0.0.3")
    failed = audits(throttled_app, "login.failed")
    assert [(e.actor, e.target, e.address) for e in failed] == [("anonymous", VICTIM, "10.0.0.1")] * 3 + [
        ("anonymous", None, "10.0.0.3")]
    assert failed[-1].details == {"account": "unknown"}  # what was typed for an unknown account is not kept
    (lock,) = audits(throttled_app, "login.lock")
    assert (lock.actor, lock.target, lock.address) == ("system", VICTIM, "10.0.0.1")
    assert lock.details == {"scope": "account+address", "until": (T0 + timedelta(minutes=10)).isoformat()}
    with throttled_app.app_context():
        stored = " ".join(repr((e.actor, e.target, e.details, e.address)) for e in db.session.scalars(select(AuditEvent)))
    assert WRONG not in stored and "typed-a-secret" not in stored
    assert WRONG not in caplog.text and PASSWORD not in caplog.text


def test_the_account_lock_is_audited_once(throttled_app: Any) -> None:
    with freeze_time(T0):
        for i in range(6):
            attempt(throttled_app, VICTIM, WRONG, f"10.1.0.{i}")
    (lock,) = audits(throttled_app, "login.lock")
    assert lock.target == VICTIM and lock.details["scope"] == "account" and lock.address == "10.1.0.4"


# --- the admin unlocks -------------------------------------------------------------------------

def lock_victim(app: Any) -> None:
    """5 failures: 3 from 10.1.0.9 (refused on the account from there), then 2 more from
    elsewhere (the account is locked)."""
    for _ in range(3):
        attempt(app, VICTIM, WRONG, "10.1.0.9")
    for i in range(2):
        attempt(app, VICTIM, WRONG, f"10.1.0.{i}")


def test_an_admin_unlocks_an_account_from_the_users_page(throttled_app: Any) -> None:
    with freeze_time(T0):
        lock_victim(throttled_app)
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 429
        admin = log_in(throttled_app.test_client(), "admin@roko.test")
        page = admin.get("/console/admin/users").get_data(as_text=True)
        with throttled_app.app_context():
            victim_id = db.session.scalars(select(User.id).where(User.email == VICTIM)).one()
            other_id = db.session.scalars(select(User.id).where(User.email == "other@roko.test")).one()
        assert f'id="lock-{victim_id}"' in page and "Verrouillé pour tous" in page
        assert f'action="/console/admin/users/{victim_id}/unlock"' in page
        assert f'action="/console/admin/users/{other_id}/unlock"' not in page  # nothing to unlock there
        assert "il peut se connecter de nouveau tout de suite, depuis n'importe quelle adresse" in page
        url = f"/console/admin/users/{victim_id}/unlock"
        assert admin.post(url).status_code == 400  # no CSRF token
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 429
        response = admin.post(url, data={"csrf_token": csrf_from(page)}, follow_redirects=True)
        assert response.status_code == 200
        assert f"{VICTIM} est déverrouillé : ses échecs de connexion sont oubliés" in response.get_data(as_text=True)
        assert f'id="lock-{victim_id}"' not in response.get_data(as_text=True)
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.1.0.9") == 302  # the refused address too
    (event,) = audits(throttled_app, "user.unlock")
    assert (event.actor, event.target, event.details) == ("admin@roko.test", VICTIM, {"forgotten_failures": 5})


def test_failures_after_an_unlock_count_afresh(throttled_app: Any) -> None:
    with freeze_time(T0) as frozen:
        lock_victim(throttled_app)
        with throttled_app.app_context():
            user = db.session.scalars(select(User).where(User.email == VICTIM)).one()
            assert accounts.unlock(user, accounts.LoginPolicy.from_config(throttled_app.config)) == 5
            db.session.commit()
        frozen.tick(1)
        for i in range(4):
            attempt(throttled_app, VICTIM, WRONG, f"10.3.0.{i}")
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 302
        attempt(throttled_app, VICTIM, WRONG, "10.3.0.4")
        attempt(throttled_app, VICTIM, WRONG, "10.3.0.5")
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 429


def test_the_cli_unlocks_an_account_when_no_admin_can_log_in(throttled_app: Any) -> None:
    with freeze_time(T0):
        lock_victim(throttled_app)
        runner = throttled_app.test_cli_runner()
        result = runner.invoke(args=["roko", "user", "unlock", " Victim@Roko.test"])
        assert result.exit_code == 0, result.output
        assert "Unlocked victim@roko.test: 5 failed log-ins forgotten." in result.output
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.1.0.9") == 302
        unknown = runner.invoke(args=["roko", "user", "unlock", "nobody@roko.test"])
        assert unknown.exit_code == 1 and "No such user" in unknown.output
    (event,) = audits(throttled_app, "user.unlock")
    assert (event.actor, event.target, event.details) == ("cli", VICTIM, {"forgotten_failures": 5})


@pytest.mark.parametrize("role", ["operator", "viewer"])
def test_only_admins_unlock(throttled_app: Any, role: str) -> None:
    make_user(throttled_app, f"{role}@roko.test", role)
    with freeze_time(T0):
        lock_victim(throttled_app)
        client = log_in(throttled_app.test_client(), f"{role}@roko.test")
        with throttled_app.app_context():
            victim_id = db.session.scalars(select(User.id).where(User.email == VICTIM)).one()
        token = csrf_from(client.get("/console/").get_data(as_text=True))
        assert client.post(f"/console/admin/users/{victim_id}/unlock", data={"csrf_token": token}).status_code == 403
        assert attempt(throttled_app, VICTIM, PASSWORD, "10.2.0.1") == 429
    assert audits(throttled_app, "user.unlock") == []


# --- concurrency ------------------------------------------------------------------------------

GUESSES = 40


def test_concurrent_guesses_never_check_more_than_the_limit(live_server: Any, app: Any) -> None:
    """40 wrong passwords at once for one account from one address, through a real gunicorn
    server (several processes and threads) on the suite's backend (SQLite, or PostgreSQL in
    the PostgreSQL run): exactly the limit (5) are checked, the rest refused."""
    make_user(app, VICTIM, "viewer")
    url = live_server(workers=3, threads=8)
    barrier = threading.Barrier(GUESSES)

    def one(i: int) -> int:
        with requests.Session() as session:
            token = csrf_from(session.get(url + "/login", timeout=10).text)
            barrier.wait(timeout=60)
            response = session.post(url + "/login", data={"email": VICTIM, "password": f"wrong guess {i}",
                                                          "csrf_token": token}, timeout=60, allow_redirects=False)
            return response.status_code

    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        codes = sorted(pool.map(one, range(GUESSES)))
    assert codes == [200] * 5 + [429] * (GUESSES - 5)
    assert len(audits(app, "login.failed")) == 5
    assert failures(app) == 5
    assert len(audits(app, "login.lock")) == 1
