"""Console fixtures: users of each role and a logged-in client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import make_user
from tests.helpers import log_in


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
        return log_in(client or console_app.test_client(), f"{role}@roko.test")

    return _login
