"""Flask's per-request question "is this hook a coroutine function?" is answered once per
function (roko_app.web.application), without changing what runs."""

from __future__ import annotations

import inspect
from typing import Any

import flask.app
import pytest

from tests.helpers import body_with, post


@pytest.fixture
def coroutine_checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    asked: list[Any] = []

    def counted(func: Any) -> bool:
        asked.append(func)
        return inspect.iscoroutinefunction(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", counted)
    return asked


def test_a_request_asks_nothing_already_answered(app: Any, client: Any, coroutine_checks: list[Any]) -> None:
    assert post(client, body_with(gateway_sms_id=1)).status_code == 200
    assert coroutine_checks, "the first request asks about each of its hooks and its view"
    coroutine_checks.clear()
    assert post(client, body_with(gateway_sms_id=2)).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert [getattr(f, "__name__", f) for f in coroutine_checks] == ["healthz"], "only the new view is asked about"


def test_an_async_view_is_still_handed_to_flask(app: Any) -> None:
    """Not remembered as plain: Flask's own wrapping (which needs Flask's async extra,
    not installed here, hence its error) still runs, each time."""

    async def later() -> str:
        return "ok"

    for _ in range(2):
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(later)
