"""The Topaz send client, against the simulator and canned servers on loopback ports."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from roko_app.gateway import SendResult, StatusResult, TopazClient
from roko_app.gateway.simulator import RunningSimulator, start_in_thread

TOKEN = "client-secret-token-4711"
TOPAZ_LOGGER = "roko_app.gateway.topaz"
MESSAGE: dict[str, Any] = {"to": "612345678", "text": "Merci pour votre participation ROKO.", "encoding": "GSM-7"}


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread(token=TOKEN) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator) -> Iterator[TopazClient]:
    with TopazClient(sim.url, TOKEN, 17, connect_timeout=0.5, read_timeout=1.0) as topaz:
        yield topaz


def test_sent_returns_the_gateway_id_and_the_gateway_records_the_message(
    client: TopazClient, sim: RunningSimulator
) -> None:
    result = client.send(client_ref="roko-out-1", **MESSAGE)
    other_port = client.send(client_ref="roko-out-2", port=3, **MESSAGE)

    assert result == SendResult("sent", gateway_sms_id=1, duplicate=False, http_status=200)
    assert result.is_sent and not result.is_transient and not result.is_rejected
    assert other_port.gateway_sms_id == 2
    records = sim.sent()
    assert {k: records[0][k] for k in ("client_ref", "port", "to", "text", "encoding")} == {
        "client_ref": "roko-out-1",
        "port": 17,
        **MESSAGE,
    }
    assert records[1]["port"] == 3


def test_duplicate_client_ref_returns_the_same_gateway_id(client: TopazClient, sim: RunningSimulator) -> None:
    first = client.send(client_ref="roko-out-9", **MESSAGE)
    again = client.send(client_ref="roko-out-9", **MESSAGE)

    assert again.is_sent and again.duplicate
    assert again.gateway_sms_id == first.gateway_sms_id
    assert len(sim.sent()) == 1


def test_rejected_carries_the_gateways_reason(client: TopazClient, sim: RunningSimulator) -> None:
    bad_number = client.send(client_ref="roko-out-1", **{**MESSAGE, "to": "712345678"})
    sim.set(mode="reject")
    simulated = client.send(client_ref="roko-out-2", **MESSAGE)

    assert bad_number.outcome == "rejected"
    assert bad_number.http_status == 422
    assert bad_number.reason is not None and bad_number.reason.startswith("to must be")
    assert simulated == SendResult.rejected("simulated rejection", http_status=422)
    assert sim.sent() == []


@pytest.mark.parametrize("settings", [{"mode": "down"}, {"fail_rate": 1.0}])
def test_503_is_transient(client: TopazClient, sim: RunningSimulator, settings: dict[str, Any]) -> None:
    sim.set(**settings)

    result = client.send(client_ref="roko-out-1", **MESSAGE)

    assert result.outcome == "transient"
    assert result.http_status == 503
    assert result.reason == "gateway error (HTTP 503)"


def test_wrong_token_is_transient_and_logged_once_at_error(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TopazClient(sim.url, "wrong-token-0815", 17, connect_timeout=0.5, read_timeout=1.0) as client:
        result = client.send(client_ref="roko-out-1", **MESSAGE)

    assert result.outcome == "transient"
    assert result.http_status == 401
    assert "credentials" in (result.reason or "")
    errors = [r for r in caplog.records if r.name == TOPAZ_LOGGER and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "roko-out-1" in errors[0].getMessage()
    assert "wrong-token-0815" not in caplog.text
    assert sim.sent() == []


def test_connection_refused_is_transient() -> None:
    with TopazClient(f"http://127.0.0.1:{closed_port()}", TOKEN, 17, connect_timeout=0.5) as client:
        result = client.send(client_ref="roko-out-1", **MESSAGE)

    assert result.outcome == "transient"
    assert result.http_status is None
    assert result.reason == "connection error: Connection refused"


def test_read_timeout_is_transient_and_a_retry_with_the_same_client_ref_is_safe(sim: RunningSimulator) -> None:
    sim.set(latency_ms=500)
    with TopazClient(sim.url, TOKEN, 17, connect_timeout=0.5, read_timeout=0.15) as client:
        timed_out = client.send(client_ref="roko-out-1", **MESSAGE)

        # The ambiguous case: we gave up, but the gateway processed the send anyway.
        deadline = time.monotonic() + 3
        while not sim.sent() and time.monotonic() < deadline:
            time.sleep(0.02)
        sim.set(latency_ms=0)
        retried = client.send(client_ref="roko-out-1", **MESSAGE)

    assert timed_out.outcome == "transient"
    assert timed_out.reason is not None and timed_out.reason.startswith("read timeout after 0.15s")
    assert retried.is_sent and retried.duplicate
    assert [m["gateway_sms_id"] for m in sim.sent()] == [retried.gateway_sms_id]


# -- contract edge cases, against a server that answers one canned response ----------------


@contextmanager
def canned_server(status: int, body: bytes, headers: dict[str, str] | None = None,
                  tls: tuple[Path, Path] | None = None, content_length: int | None = None) -> Iterator[dict[str, Any]]:
    """Serve one fixed answer on a loopback port (over HTTPS with ``tls`` = (certificate,
    key)); yields {"url", "requests"}. ``content_length`` announces another length than
    the body's (longer: the answer is cut off, and the connection closed)."""
    captured: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            captured.append({"path": self.path, "headers": dict(self.headers.items()), "body": raw})
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
            self.end_headers()
            self.wfile.write(body)
            if content_length is not None:
                self.close_connection = True

        do_GET = do_POST  # noqa: N815 (the status query)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    scheme = "http"
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield {"url": f"{scheme}://127.0.0.1:{server.server_address[1]}", "requests": captured}
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_request_on_the_wire_matches_the_contract() -> None:
    with (
        canned_server(200, b'{"status": "sent", "gateway_sms_id": 5, "duplicate": false}') as gateway,
        TopazClient(gateway["url"] + "/", TOKEN, 9) as client,
    ):
        result = client.send(client_ref="roko-out-42", to="612345678", text="Bonne chance é", encoding="UCS-2")

    assert result == SendResult.sent(5)
    (request,) = gateway["requests"]
    assert request["path"] == "/api/v1/send"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {
        "client_ref": "roko-out-42",
        "port": 9,
        "to": "612345678",
        "text": "Bonne chance é",
        "encoding": "UCS-2",
    }


def test_a_netrc_entry_for_the_gateway_does_not_replace_the_bearer_token(tmp_path: Any, monkeypatch: Any) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with (
        canned_server(200, b'{"status": "sent", "gateway_sms_id": 5}') as gateway,
        TopazClient(gateway["url"], TOKEN, 17) as client,
    ):
        assert client.send(client_ref="roko-out-1", **MESSAGE).is_sent
    assert gateway["requests"][0]["headers"]["Authorization"] == f"Bearer {TOKEN}"


def test_the_proxy_environment_is_read_once_when_the_client_is_built(monkeypatch: Any) -> None:
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with (
        canned_server(200, b'{"status": "sent", "gateway_sms_id": 5}') as gateway,
        TopazClient(gateway["url"], TOKEN, 17, connect_timeout=0.5, read_timeout=1.0) as direct,
    ):
        monkeypatch.setenv("HTTP_PROXY", dead_proxy)
        monkeypatch.setenv("http_proxy", dead_proxy)
        assert direct.send(client_ref="roko-out-1", **MESSAGE).is_sent  # built before: no proxy
        with TopazClient(gateway["url"], TOKEN, 17, connect_timeout=0.5, read_timeout=1.0) as proxied:
            result = proxied.send(client_ref="roko-out-2", **MESSAGE)  # built after: the dead proxy
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        with TopazClient(gateway["url"], TOKEN, 17, connect_timeout=0.5, read_timeout=1.0) as bypassing:
            assert bypassing.send(client_ref="roko-out-3", **MESSAGE).is_sent
    assert result.is_transient
    assert [json.loads(r["body"])["client_ref"] for r in gateway["requests"]] == ["roko-out-1", "roko-out-3"]


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is missing")
    certificate, key = folder / "gateway.pem", folder / "gateway.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    return certificate, key


def test_a_ca_bundle_from_the_environment_is_used(tmp_path: Path, monkeypatch: Any) -> None:
    """A gateway whose certificate only the bundle named in the environment vouches for."""
    certificate, key = self_signed_certificate(tmp_path)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with canned_server(200, b'{"status": "sent", "gateway_sms_id": 5}', tls=(certificate, key)) as gateway:
        with TopazClient(gateway["url"], TOKEN, 17, connect_timeout=2, read_timeout=2) as client:
            refused = client.send(client_ref="roko-out-1", **MESSAGE)  # the default bundle does not know it
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.setenv(variable, str(certificate))
            with TopazClient(gateway["url"], TOKEN, 17, connect_timeout=2, read_timeout=2) as client:
                assert client.send(client_ref="roko-out-2", **MESSAGE).is_sent, variable
            monkeypatch.delenv(variable)
    assert refused.is_transient and "certificate" in (refused.reason or "").lower(), refused
    assert [json.loads(r["body"])["client_ref"] for r in gateway["requests"]] == ["roko-out-2", "roko-out-2"]


def test_an_empty_token_sends_no_authorization_header() -> None:
    with (
        canned_server(200, b'{"status": "sent", "gateway_sms_id": 5}') as gateway,
        TopazClient(gateway["url"], "", 17) as client,
    ):
        assert client.send(client_ref="roko-out-1", **MESSAGE).is_sent
    assert "Authorization" not in gateway["requests"][0]["headers"]


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (200, b'{"status": "sent", "gateway_sms_id": 7, "duplicate": true}', "sent", None),
        (201, b'{"status": "sent", "gateway_sms_id": 7}', "sent", None),
        (200, b"<html>ok</html>", "transient", "malformed 200 response: body is not JSON"),
        (200, b'{"status": "sent"}', "transient", "malformed 200 response: no valid gateway_sms_id"),
        (200, b'{"status": "sent", "gateway_sms_id": true}', "transient", "malformed 200 response: no valid"),
        (200, b'{"status": "queued", "gateway_sms_id": 7}', "transient", "malformed 200 response: status is not"),
        (200, b"[]", "transient", "malformed 200 response: status is not"),
        (400, b'{"status": "rejected", "reason": "SIM blocked"}', "rejected", "SIM blocked"),
        (422, b'{"status": "rejected", "reason": "text too long"}', "rejected", "text too long"),
        (400, b"bad   request", "rejected", "HTTP 400: bad request"),
        (422, b'{"status": "rejected"}', "rejected", 'HTTP 422: {"status": "rejected"}'),
        (401, b"{}", "transient", "gateway refused our credentials (HTTP 401)"),
        (403, b"{}", "transient", "gateway refused our credentials (HTTP 403)"),
        (429, b"{}", "transient", "rate limited (HTTP 429)"),
        (500, b"oops", "transient", "gateway error (HTTP 500)"),
        (502, b"", "transient", "gateway error (HTTP 502)"),
        (404, b"{}", "transient", "unexpected HTTP 404"),
        (409, b"{}", "transient", "unexpected HTTP 409"),
    ],
)
def test_answers_are_classified_per_the_contract(status: int, body: bytes, outcome: str, reason: str | None) -> None:
    with canned_server(status, body) as gateway, TopazClient(gateway["url"], TOKEN, 17) as client:
        result = client.send(client_ref="roko-out-1", **MESSAGE)

    assert result.outcome == outcome
    assert result.http_status == status
    if reason is None:
        assert result.gateway_sms_id == 7
    else:
        assert result.reason is not None and result.reason.startswith(reason)


def test_redirects_are_not_followed() -> None:
    with (
        canned_server(302, b"", {"Location": "/elsewhere"}) as gateway,
        TopazClient(gateway["url"], TOKEN, 17) as client,
    ):
        result = client.send(client_ref="roko-out-1", **MESSAGE)

    assert result.outcome == "transient"
    assert result.reason == "unexpected HTTP 302 (check TOPAZ_URL)"
    assert len(gateway["requests"]) == 1


# -- configuration, programming errors, secrets -------------------------------------------------


def test_from_config_reads_the_topaz_keys(sim: RunningSimulator) -> None:
    config = {
        "TOPAZ_URL": sim.url,
        "TOPAZ_TOKEN": TOKEN,
        "TOPAZ_SEND_PORT": "5",
        "TOPAZ_CONNECT_TIMEOUT": 1,
        "TOPAZ_READ_TIMEOUT": "2.5",
    }
    with TopazClient.from_config(config) as client:
        assert (client.base_url, client.send_port, client.connect_timeout, client.read_timeout) == (
            sim.url,
            5,
            1.0,
            2.5,
        )
        assert client.send(client_ref="roko-out-1", **MESSAGE).is_sent
    assert sim.sent()[0]["port"] == 5


def test_from_config_defaults_and_coercions() -> None:
    # from_prefixed_env parses ROKO_TOPAZ_TOKEN=12345 as an int.
    with canned_server(200, b'{"status": "sent", "gateway_sms_id": 5}') as gateway:
        config = {"TOPAZ_URL": gateway["url"], "TOPAZ_SEND_PORT": 0, "TOPAZ_TOKEN": 12345}
        with TopazClient.from_config(config) as client:
            assert (client.connect_timeout, client.read_timeout, client.send_port) == (3.05, 10.0, 0)
            assert client.send(client_ref="roko-out-1", **MESSAGE).is_sent
    assert gateway["requests"][0]["headers"]["Authorization"] == "Bearer 12345"


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"TOPAZ_SEND_PORT": 17}, "TOPAZ_URL"),
        ({"TOPAZ_URL": "", "TOPAZ_SEND_PORT": 17}, "TOPAZ_URL"),
        ({"TOPAZ_URL": "gw.example:8025", "TOPAZ_SEND_PORT": 17}, "TOPAZ_URL"),
        ({"TOPAZ_URL": "http://gw"}, "TOPAZ_SEND_PORT"),
        ({"TOPAZ_URL": "http://gw", "TOPAZ_SEND_PORT": 32}, "TOPAZ_SEND_PORT"),
        ({"TOPAZ_URL": "http://gw", "TOPAZ_SEND_PORT": "x"}, "TOPAZ_SEND_PORT"),
        ({"TOPAZ_URL": "http://gw", "TOPAZ_SEND_PORT": 1, "TOPAZ_READ_TIMEOUT": 0}, "TOPAZ_READ_TIMEOUT"),
        ({"TOPAZ_URL": "http://gw", "TOPAZ_SEND_PORT": 1, "TOPAZ_CONNECT_TIMEOUT": "x"}, "TOPAZ_CONNECT_TIMEOUT"),
    ],
)
def test_from_config_names_the_bad_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        TopazClient.from_config(config)


@pytest.mark.parametrize("token", [TOKEN + "\n", " " + TOKEN, TOKEN[:5] + " " + TOKEN[5:], TOKEN + "é"])
def test_a_token_that_cannot_be_a_header_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(ValueError, match="TOPAZ_TOKEN") as raised:
        TopazClient.from_config({"TOPAZ_URL": "http://gw", "TOPAZ_SEND_PORT": 1, "TOPAZ_TOKEN": token})
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    "overrides",
    [{"client_ref": ""}, {"port": 32}, {"port": -1}, {"encoding": "UTF-8"}],
)
def test_programming_errors_raise_value_error(client: TopazClient, overrides: dict[str, Any]) -> None:
    arguments = {"client_ref": "roko-out-1", **MESSAGE, **overrides}
    with pytest.raises(ValueError):
        client.send(**arguments)


def test_send_result_invariants() -> None:
    with pytest.raises(ValueError):
        SendResult("sent")
    with pytest.raises(ValueError):
        SendResult("transient")


def test_the_token_never_appears_in_logs(sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with TopazClient(sim.url, TOKEN, 17, connect_timeout=0.5, read_timeout=0.15) as client:
        client.send(client_ref="roko-out-1", **MESSAGE)  # sent
        client.send(client_ref="roko-out-1", **MESSAGE)  # duplicate
        client.send(client_ref="roko-out-2", **{**MESSAGE, "to": "712345678"})  # rejected
        sim.set(mode="down")
        client.send(client_ref="roko-out-3", **MESSAGE)  # transient
        sim.set(mode="ok", latency_ms=400)
        client.send(client_ref="roko-out-4", **MESSAGE)  # read timeout
        assert TOKEN not in repr(client)
    with TopazClient(f"http://127.0.0.1:{closed_port()}", TOKEN, 17, connect_timeout=0.5) as client:
        client.send(client_ref="roko-out-5", **MESSAGE)  # connection refused
    with TopazClient(sim.url, TOKEN + "-wrong", 17) as client:
        sim.set(latency_ms=0)
        client.send(client_ref="roko-out-6", **MESSAGE)  # 401

    ours = [r for r in caplog.records if r.name == TOPAZ_LOGGER]
    assert len(ours) == 7
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    # Nor personal data: the number and the text stay out of our log lines.
    assert all(MESSAGE["to"] not in r.getMessage() and MESSAGE["text"] not in r.getMessage() for r in ours)


# -- what may have gone out, and the status query (docs/topaz-gateway.md §5) ----------------


def test_only_answers_after_the_request_may_have_reached_the_gateway_are_ambiguous(sim: RunningSimulator) -> None:
    with TopazClient(f"http://127.0.0.1:{closed_port()}", TOKEN, 17, connect_timeout=0.5) as refused:
        assert not refused.send(client_ref="roko-out-1", **MESSAGE).ambiguous
    sim.set(mode="down")
    with TopazClient(sim.url, TOKEN, 17, connect_timeout=0.5, read_timeout=0.15) as client:
        assert not client.send(client_ref="roko-out-1", **MESSAGE).ambiguous, "a 503 sent nothing"
        sim.set(mode="ok", latency_ms=400)
        assert client.send(client_ref="roko-out-1", **MESSAGE).ambiguous, "a read timeout may have sent it"
    with canned_server(200, b"<html>ok</html>") as gateway, TopazClient(gateway["url"], TOKEN, 17) as client:
        assert client.send(client_ref="roko-out-1", **MESSAGE).ambiguous, "a 2xx we cannot read may have sent it"
    cut_off = b'{"status": "accepted", "gateway_sms_id": 4'
    with canned_server(200, cut_off, content_length=60) as gateway, TopazClient(gateway["url"], TOKEN, 17) as client:
        result = client.send(client_ref="roko-out-1", **MESSAGE)
        assert result.is_transient and result.ambiguous, "a 2xx cut off in its body may have sent it"
        assert "outcome unknown" in (result.reason or "")


def test_the_status_query_answers_the_gateways_record(client: TopazClient, sim: RunningSimulator) -> None:
    assert client.status("roko-out-1") == StatusResult("unknown")
    sent = client.send(client_ref="roko-out-1", **MESSAGE)
    answer = client.status("roko-out-1")
    assert (answer.state, answer.gateway_sms_id, answer.accepted) == ("sent", sent.gateway_sms_id, True)
    assert answer.at is not None and answer.at.tzinfo is not None
    sim.set(status_mode="down")
    assert client.status("roko-out-1").state == "unreachable"


def test_the_status_query_is_unreachable_without_a_usable_answer(sim: RunningSimulator) -> None:
    with TopazClient(sim.url, "wrong-token", 17) as wrong_token:
        assert wrong_token.status("roko-out-1") == StatusResult("unreachable", reason="status query answered HTTP 401")
    with TopazClient(f"http://127.0.0.1:{closed_port()}", TOKEN, 17, connect_timeout=0.5) as refused:
        result = refused.status("roko-out-1")
        assert (result.state, result.reason) == ("unreachable", "status query failed: Connection refused")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"client_ref": "a/b", "gateway_sms_id": 7, "status": "delivered", "at": "2026-05-15T10:30:05Z"}',
         StatusResult("delivered", 7, datetime(2026, 5, 15, 10, 30, 5, tzinfo=UTC))),
        (200, b'{"status": "expired", "at": "2026-05-15T10:30:05"}',
         StatusResult("expired", None, datetime(2026, 5, 15, 10, 30, 5, tzinfo=UTC))),
        (200, b'{"status": "queued", "gateway_sms_id": 3, "at": "soon"}', StatusResult("queued", 3, None)),
        (200, b'{"status": "lost"}', StatusResult("unreachable", reason="malformed status answer: no known status")),
        (200, b'{"status": "sent", "gateway_sms_id": -1}',
         StatusResult("unreachable", reason="malformed status answer: bad gateway_sms_id")),
        (200, b"<html>", StatusResult("unreachable", reason="malformed status answer: no known status")),
        (404, b"{}", StatusResult("unknown")),
        (500, b"{}", StatusResult("unreachable", reason="status query answered HTTP 500")),
    ],
)
def test_status_answers_are_classified(status: int, body: bytes, expected: StatusResult) -> None:
    with canned_server(status, body) as gateway, TopazClient(gateway["url"], TOKEN, 17) as client:
        assert client.status("a/b") == expected
    (request,) = gateway["requests"]
    assert request["path"] == "/api/v1/send/a%2Fb"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
