"""Per-key rate limits on the send API, with in-memory storage and with a real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis

from tests.factories import issue_key
from tests.helpers import IN_CI, REDIS_URL, SEND_SEED_EXAMPLE, SIM_TOKEN, assert_error, redis_available, send


def storages() -> list[Any]:
    return ["memory://", pytest.param(REDIS_URL, id="redis")]


@pytest.fixture(params=storages(), ids=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    uri: str = request.param
    if uri.startswith("redis") and not redis_available():
        if IN_CI:
            pytest.fail(f"Redis does not answer at {uri}; CI needs it (set ROKO_TEST_REDIS_URL)")
        pytest.skip(f"Redis does not answer at {uri}")
    return uri


@pytest.fixture
def limited_app(make_app: Any, simulator: Any, storage_uri: str) -> Any:
    return make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_RATE_PER_PORT=0, SEND_RATE_LIMIT="3/minute",
                    RATELIMIT_STORAGE_URI=storage_uri, RATELIMIT_KEY_PREFIX=f"roko-test-{uuid.uuid4().hex}")


def test_over_the_limit_is_429_json_with_retry_after(limited_app: Any, simulator: Any) -> None:
    key = issue_key(limited_app)
    for _ in range(3):
        assert send(limited_app, SEND_SEED_EXAMPLE, key).status_code == 200
    response = send(limited_app, SEND_SEED_EXAMPLE, key)
    assert_error(response, 429, "RATE_LIMITED")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert len(simulator.sent()) == 3, "the refused request sent nothing"


def test_each_key_has_its_own_budget(limited_app: Any) -> None:
    first, second = issue_key(limited_app, "first"), issue_key(limited_app, "second")
    for _ in range(3):
        assert send(limited_app, SEND_SEED_EXAMPLE, first).status_code == 200
    assert send(limited_app, SEND_SEED_EXAMPLE, first).status_code == 429
    assert send(limited_app, SEND_SEED_EXAMPLE, second).status_code == 200


def test_the_window_reopens(make_app: Any, simulator: Any, storage_uri: str) -> None:
    import time

    app = make_app(TOPAZ_URL=simulator.url, TOPAZ_TOKEN=SIM_TOKEN, TOPAZ_RATE_PER_PORT=0, SEND_RATE_LIMIT="2/second",
                   RATELIMIT_STORAGE_URI=storage_uri)
    key = issue_key(app)
    statuses = [send(app, SEND_SEED_EXAMPLE, key).status_code for _ in range(3)]
    if statuses[:2] != [200, 200]:  # the 1-s window turned between the first two requests
        statuses = [send(app, SEND_SEED_EXAMPLE, key).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    time.sleep(1.1)  # the next fixed one-second window
    assert send(app, SEND_SEED_EXAMPLE, key).status_code == 200


def test_unauthenticated_requests_do_not_use_a_keys_budget(limited_app: Any) -> None:
    key = issue_key(limited_app)
    for _ in range(5):
        assert send(limited_app, SEND_SEED_EXAMPLE, "roko_wrong").status_code == 401
    assert send(limited_app, SEND_SEED_EXAMPLE, key).status_code == 200


def test_redis_storage_is_shared_between_app_instances(make_app: Any, simulator: Any) -> None:
    """Two processes (here two apps) share one budget through Redis."""
    if not redis_available():
        if IN_CI:
            pytest.fail(f"Redis does not answer at {REDIS_URL}")
        pytest.skip("no Redis")
    prefix = f"roko-test-{uuid.uuid4().hex}"
    config = {"TOPAZ_URL": simulator.url, "TOPAZ_TOKEN": SIM_TOKEN, "SEND_RATE_LIMIT": "3/minute", "TOPAZ_RATE_PER_PORT": 0,
              "RATELIMIT_STORAGE_URI": REDIS_URL, "RATELIMIT_KEY_PREFIX": prefix}
    one = make_app(**config)
    key = issue_key(one)
    for _ in range(3):
        assert send(one, SEND_SEED_EXAMPLE, key).status_code == 200
    two = make_app(**config)  # a new storage connection: only Redis remembers the count
    assert send(two, SEND_SEED_EXAMPLE, key).status_code == 429
    from roko_app.services.api_keys import hash_key

    assert redis.Redis.from_url(REDIS_URL).keys(f"*{hash_key(key)[:16]}*"), "the counters live in Redis"
