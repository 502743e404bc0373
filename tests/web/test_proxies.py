"""The client's address behind proxies: taken from X-Forwarded-For only for the
configured number of hops, so per-address limits count real clients, and a client that
talks to the app directly cannot pick its address."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from roko_app import ConfigError
from roko_app.extensions import db
from roko_app.models import LoginFailure
from tests.helpers import post_login


def failed_login_address(app: Any, forwarded_for: str | None, remote: str = "10.0.0.1") -> str:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = remote
    if forwarded_for:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    post_login(client, "nobody@roko.test", "wrong")
    with app.app_context():
        return db.session.scalars(select(LoginFailure.address).order_by(LoginFailure.id.desc())).first()


def test_directly_exposed_the_forwarded_header_is_ignored(make_app: Any) -> None:
    app = make_app()  # TRUSTED_PROXIES = 0
    assert failed_login_address(app, "203.0.113.7") == "10.0.0.1"


def test_behind_one_proxy_the_client_is_the_address_it_forwarded(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=1)
    assert failed_login_address(app, "203.0.113.7") == "203.0.113.7"
    # A client's own X-Forwarded-For comes first; the proxy appends the real address.
    assert failed_login_address(app, "198.51.100.9, 203.0.113.8") == "203.0.113.8"


def test_behind_two_proxies_the_second_hop_from_the_right_counts(make_app: Any) -> None:
    app = make_app(TRUSTED_PROXIES=2)
    assert failed_login_address(app, "forged, 203.0.113.9, 10.0.0.5") == "203.0.113.9"


def test_a_negative_hop_count_is_refused(make_app: Any) -> None:
    with pytest.raises(ConfigError, match="ROKO_TRUSTED_PROXIES"):
        make_app(TRUSTED_PROXIES=-1)
