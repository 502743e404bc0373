"""A body over an API's limit is 413 ``PAYLOAD_TOO_LARGE`` also when it is sent chunked
(no Content-Length), through gunicorn as in production (issue 12, item 9); a chunked
body at the limit is read whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from roko_app.api.routes import MAX_BODY as SEND_MAX_BODY
from roko_app.web.credentials import sign
from tests.factories import issue_key
from tests.helpers import INBOUND_URL, OPTIMOVE_KEY, OPTIMOVE_SECRET, OPTIMOVE_URL, SEND_URL, WEBHOOK_TOKEN

LIMIT = 4096  # ROKO_INBOUND_MAX_BODY and ROKO_OPTIMOVE_MAX_BODY for this server


def body_of(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


def in_chunks(body: bytes, chunk: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(body), chunk):
        yield body[start:start + chunk]


@pytest.fixture
def server(live_server: Any, make_app: Any) -> tuple[str, str]:
    key = issue_key(make_app())
    url = live_server(workers=1, threads=2, ROKO_INBOUND_MAX_BODY=str(LIMIT), ROKO_OPTIMOVE_MAX_BODY=str(LIMIT),
                      ROKO_OPTIMOVE_API_KEY=OPTIMOVE_KEY, ROKO_OPTIMOVE_HMAC_SECRET=OPTIMOVE_SECRET)
    return url, key


def post(server: tuple[str, str], path: str, body: bytes, *, chunked: bool) -> requests.Response:
    url, key = server
    headers = {"Content-Type": "application/json", "X-Roko-Webhook-Token": WEBHOOK_TOKEN}
    if path == SEND_URL:
        headers["x-api-key"] = key
    if path == OPTIMOVE_URL:
        headers.update({"X-API-Key": OPTIMOVE_KEY, "x-hub-signature": sign(body, OPTIMOVE_SECRET)})
    data: Any = in_chunks(body) if chunked else body
    return requests.post(url + path, data=data, headers=headers, timeout=30)


LIMITS = [(INBOUND_URL, LIMIT), (SEND_URL, SEND_MAX_BODY), (OPTIMOVE_URL, LIMIT)]


def test_bodies_over_the_limit_are_413_chunked_or_not(server: tuple[str, str]) -> None:
    for path, limit in LIMITS:
        for size in (limit + 1, 10 * limit):
            for chunked in (True, False):
                response = post(server, path, body_of(size), chunked=chunked)
                assert response.status_code == 413, (path, size, chunked, response.text)
                body = response.json()
                assert body["code"] == "PAYLOAD_TOO_LARGE" and body["error"] and body["message"], body


def test_a_chunked_body_at_the_limit_is_read_whole(server: tuple[str, str]) -> None:
    for path, limit in LIMITS:
        response = post(server, path, body_of(limit), chunked=True)
        assert response.status_code == 400, (path, response.text)  # read whole: valid JSON, wrong fields
        assert response.json()["code"] == "VALIDATION_ERROR", (path, response.text)
