"""Console fixtures: users of each role and a logged-in client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from roko_app.extensions import db
from roko_app.services import accounts

PASSWORD = "correct horse battery"


def make_user(app: Any, email: str, role: str, password: str = PASSWORD) -> None:
    with app.app_context():
        accounts.create_user(email, role, password)
        db.session.commit()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def console_app(make_app: Callable[..., Any]) -> Any:
    app = make_app()
    for role in ("admin", "operator", "viewer"):
        make_user(app, f"{role}@roko.test", role)
    return app


@pytest.fixture
def login(console_app: Any) -> Callable[..., Any]:
    """``login("operator")`` returns a test client logged in with that role."""

    def _login(role: str, client: Any = None) -> Any:
        client = client or console_app.test_client()
        page = client.get("/login")
        response = client.post("/login", data={"email": f"{role}@roko.test", "password": PASSWORD,
                                               "csrf_token": csrf_from(page.get_data(as_text=True))})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _login
