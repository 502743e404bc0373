"""A runnable fake Optimove (the aggregator endpoints), for dev and tests.

``POST /api/v1/aggregator/{handshake,delivery-report,incoming-message}`` check the
``app-api-key`` header and the ``x-hub-signature`` HMAC-SHA256 of the raw body (constant
time), record what they got, and answer 200, or 401 (bad key or signature), 400 (not
JSON), or what ``POST /control`` asks for (``{"fail": 503, "times": 3}``: the next three
calls get 503). ``GET /received`` lists what was accepted; ``DELETE /received`` forgets.

    python -m roko_app.optimove.simulator --port 8026 --api-key K --secret S

In tests, :func:`start_in_thread` runs it on a free loopback port. Nothing here imports
the Flask application.
"""

from __future__ import annotations

import argparse
import hmac
import json
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from roko_app.optimove.client import PATHS
from roko_app.web.credentials import sign

KINDS = {path: kind for kind, path in PATHS.items()}
MAX_BODY = 1024 * 1024


@dataclass
class OptimoveSimulator:
    """State and checks; thread-safe."""

    api_key: str
    secret: str
    received: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    _fail: tuple[int, int] = (0, 0)  # (status, how many more calls)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int, times: int) -> None:
        """Answer the next ``times`` calls with ``status``."""
        with self._lock:
            self._fail = (status, times)

    @property
    def failures_left(self) -> int:
        """How many of the calls :meth:`fail` asked for are still to come."""
        with self._lock:
            return self._fail[1]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        kind = KINDS.get(path)
        if kind is None:
            return 404, {"error": f"no such endpoint: {path}"}
        with self._lock:
            status, times = self._fail
            if times > 0:
                self._fail = (status, times - 1)
                return status, {"error": "simulated failure"}
        key_ok = hmac.compare_digest(headers.get("app-api-key", "").encode(), self.api_key.encode())
        signature_ok = hmac.compare_digest(headers.get("x-hub-signature", "").encode(), sign(body, self.secret).encode())
        if not key_ok or not signature_ok:
            with self._lock:
                self.refused += 1
            return 401, {"error": "invalid app-api-key" if not key_ok else "invalid x-hub-signature"}
        try:
            parsed = json.loads(body)
        except ValueError:
            return 400, {"error": "not JSON"}
        with self._lock:
            self.received.append({"kind": kind, "body": parsed, "raw": body.decode("utf-8"),
                                  "idempotency_key": headers.get("idempotency-key")})
        return 200, {"status": "ok"}

    def calls(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(call) for call in self.received if kind is None or call["kind"] == kind]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        simulator = cast(Any, self.server).simulator
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._write(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        if self.path == "/control":
            try:
                order = json.loads(body)
                simulator.fail(int(order["fail"]), int(order["times"]))
            except (ValueError, KeyError, TypeError):
                self._write(400, {"error": 'expected {"fail": status, "times": n}'})
                return
            self._write(200, {"status": "ok"})
            return
        headers = {key.lower(): value for key, value in self.headers.items()}
        self._write(*simulator.handle(self.path, headers, body))

    def do_GET(self) -> None:  # noqa: N802
        simulator = cast(Any, self.server).simulator
        if self.path == "/received":
            self._write(200, {"received": simulator.calls(), "refused": simulator.refused})
        else:
            self._write(404, {"error": "not found"})

    def do_DELETE(self) -> None:  # noqa: N802
        simulator = cast(Any, self.server).simulator
        with simulator._lock:
            simulator.received.clear()
        self._write(200, {"status": "ok"})

    def _write(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class RunningOptimove:
    """A simulator serving in a daemon thread; a context manager that stops it."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server, self.thread = server, thread
        self.simulator: OptimoveSimulator = cast(Any, server).simulator
        self.url = f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningOptimove:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(api_key: str, secret: str, port: int = 0) -> RunningOptimove:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    cast(Any, server).simulator = OptimoveSimulator(api_key, secret)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="optimove-simulator")
    thread.start()
    return RunningOptimove(server, thread)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roko_app.optimove.simulator", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--api-key", required=True, help="the app-api-key it expects")
    parser.add_argument("--secret", required=True, help="the HMAC secret of x-hub-signature")
    args = parser.parse_args(argv)
    running = start_in_thread(args.api_key, args.secret, args.port)
    print(f"Optimove simulator listening on {running.url}", flush=True)
    try:
        running.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
