"""gunicorn.conf.py sets the request limits explicitly, and gunicorn (which reads it from
the working directory) answers a request over them itself, before Flask runs."""

from __future__ import annotations

import runpy
import socket
import time
from typing import Any
from urllib.parse import urlsplit

from tests.factories import make_user
from tests.helpers import ROOT, log_in

LIMITS = {"limit_request_line": 4094, "limit_request_fields": 50, "limit_request_field_size": 8190}


def raw_request(url: str, request_line: str) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(f"{request_line}\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_the_config_sets_each_request_limit() -> None:
    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert {name: settings.get(name) for name in LIMITS} == LIMITS
    documented = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    for name, value in LIMITS.items():
        assert f"`{name}` = {value:,}" in documented or f"`{name}` = {value}" in documented, name


def test_the_session_cookie_stays_far_below_the_header_limit(make_app: Any) -> None:
    app = make_app()
    make_user(app, "admin@roko.test", "admin")
    client = log_in(app.test_client(), "admin@roko.test")
    client.get("/console/")
    assert len("Cookie: session=" + client.get_cookie("session").value) < 1024


def raw_get(url: str, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    lines = ["GET /healthz HTTP/1.1", f"Host: {parts.netloc}", "Connection: close",
             *(f"{name}: {value}" for name, value in headers.items())]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_gunicorn_answers_an_oversized_header_itself(live_server: Any) -> None:
    url = live_server(workers=1, threads=1)
    assert raw_get(url, {"X-Padding": "a" * 8000}).startswith(b"HTTP/1.1 200 ")  # just under the limit
    answer = raw_get(url, {"X-Padding": "a" * 8200})
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"error"' not in answer  # gunicorn's own answer, not our JSON shape (documented)
    # 50 header fields pass, 51 do not: gunicorn read gunicorn.conf.py (its default is 100).
    assert raw_get(url, {f"X-H{i}": "1" for i in range(48)}).startswith(b"HTTP/1.1 200 ")  # + Host, Connection
    assert raw_get(url, {f"X-H{i}": "1" for i in range(49)}).startswith(b"HTTP/1.1 431 ")


def test_a_request_gunicorn_refuses_is_logged_without_the_number(live_server: Any, tmp_path: Any) -> None:
    """gunicorn logs the request line of a request it refuses itself; the number in it is
    masked there as in the app's own log, and the client's address stays readable."""
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as stderr:
        url = live_server(workers=1, threads=1, stderr=stderr)
        assert raw_request(url, "GET /console/farmers/612345678?x=\x01 HTTP/1.1").startswith(b"HTTP/1.1 400 ")
        assert raw_request(url, "GET /console/farmer/+224 612 34 56 78 HTTP/1.1").startswith(b"HTTP/1.1 400 ")
        time.sleep(0.5)  # the worker writes its line after answering
    logged = log_path.read_text(encoding="utf-8", errors="replace")
    lines = [line for line in logged.splitlines() if "Invalid request from ip=127.0.0.1: " in line]
    assert len(lines) == 2, logged
    assert all("<number>" in line for line in lines), lines
    assert "612345678" not in logged and "612 34" not in logged and "34 56 78" not in logged, logged
