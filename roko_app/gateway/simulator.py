"""A runnable fake Topaz gateway, for dev (``make run``) and tests.

It implements the send contract of ``docs/topaz-gateway.md`` exactly, records what
it "sent", injects faults on demand, and plays a farmer by posting inbound SMS to
our webhook::

    python -m roko_app.gateway.simulator --host 127.0.0.1 --port 8025 \\
        --webhook-url http://127.0.0.1:5000/api/v1/webhooks/topaz/inbound \\
        --webhook-token dev-inbound-token

In tests, :func:`start_in_thread` runs the same server on a free loopback port.
:class:`TopazSimulator` holds the state, the validation and the handling; the HTTP
layer (:class:`SimulatorHTTPServer`) only moves bytes, and both ``main()`` and
:func:`start_in_thread` use it.

This module does not import any Flask application code.
"""

from __future__ import annotations

import argparse
import heapq
import hmac
import json
import logging
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final, cast
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from roko_app.gateway.topaz import ENCODINGS, MAX_PORT, MIN_PORT, SEND_PATH, describe_exception

logger = logging.getLogger(__name__)

MODES: Final = ("ok", "reject", "down")
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8025
DEFAULT_INBOUND_PORT: Final = 17
MAX_BODY_BYTES: Final = 64 * 1024
MAX_CLIENT_REF_CHARS: Final = 64
MAX_TEXT_CHARS: Final = 1600
#: (connect, read) timeouts of the simulator's own calls to the inbound webhook.
WEBHOOK_TIMEOUT: Final = (3.05, 10.0)
WEBHOOK_TOKEN_HEADER: Final = "X-Roko-Webhook-Token"  # noqa: S105 (a header name)
GATEWAY_ID_HEADER: Final = "X-Simulator-Gateway-Sms-Id"

_GUINEA_LOCAL = re.compile(r"6[0-9]{8}")
_SETTING_KEYS: Final = frozenset({"fail_rate", "latency_ms", "mode", "status_mode", "dlr_delay_ms", "dlr_fail_rate",
                                  "dlr_expire_rate", "dlr_twice", "dlr_shuffle"})
#: Reports posted in one body at most (the webhook takes up to 1000).
DLR_BATCH: Final = 100
DLR_FAILURE_REASON: Final = "simulated: absent subscriber"
#: ``status_mode``: whether the status query answers (``ok``) or 503s (``down``).
STATUS_MODES: Final = ("ok", "down")


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, JSON-serialisable body and extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Settings:
    """The fault-injection knobs, changed with ``POST /control``."""

    fail_rate: float = 0.0
    latency_ms: int = 0
    mode: str = "ok"
    status_mode: str = "ok"
    # Delivery reports (with --dlr-url): after dlr_delay_ms (with dlr_shuffle, a random
    # delay up to twice that, so reports come out of order), a share failed or expired,
    # each posted twice with dlr_twice.
    dlr_delay_ms: int = 1000
    dlr_fail_rate: float = 0.0
    dlr_expire_rate: float = 0.0
    dlr_twice: bool = False
    dlr_shuffle: bool = False

    def __post_init__(self) -> None:
        if not _is_number(self.fail_rate) or not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be a number between 0 and 1, not {self.fail_rate!r}")
        if not _is_int(self.latency_ms) or self.latency_ms < 0:
            raise ValueError(f"latency_ms must be an integer >= 0, not {self.latency_ms!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.status_mode not in STATUS_MODES:
            raise ValueError(f"status_mode must be one of {', '.join(STATUS_MODES)}, not {self.status_mode!r}")
        if not _is_int(self.dlr_delay_ms) or self.dlr_delay_ms < 0:
            raise ValueError(f"dlr_delay_ms must be an integer >= 0, not {self.dlr_delay_ms!r}")
        for name in ("dlr_fail_rate", "dlr_expire_rate"):
            value = getattr(self, name)
            if not _is_number(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, not {value!r}")
        if self.dlr_fail_rate + self.dlr_expire_rate > 1.0:
            raise ValueError("dlr_fail_rate + dlr_expire_rate must be at most 1")
        for name in ("dlr_twice", "dlr_shuffle"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false")


class TopazSimulator:
    """State and behaviour of the fake gateway; thread-safe (one lock).

    ``handle()`` answers one HTTP request given as plain values; the other public
    methods are the same operations for in-process use (tests).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        fail_rate: float = 0.0,
        latency_ms: int = 0,
        mode: str = "ok",
        webhook_url: str | None = None,
        webhook_token: str | None = None,
        inbound_port: int = DEFAULT_INBOUND_PORT,
        seed: int | None = None,
        dlr_url: str | None = None,
        dlr_token: str | None = None,
        **dlr_settings: Any,
    ) -> None:
        """Configure the simulator; raises ``ValueError`` on a bad option.

        Without ``seed`` inbound gateway ids start at the start time in ms (a
        restarted simulator does not reuse ids already stored); with ``seed`` they
        start at 1 and the fail-rate dice are seeded.
        """
        if not _is_int(inbound_port) or not MIN_PORT <= inbound_port <= MAX_PORT:
            raise ValueError(f"inbound_port must be a SIM port {MIN_PORT}..{MAX_PORT}, not {inbound_port!r}")
        self.token = token or None
        self.webhook_url = webhook_url or None
        self.webhook_token = webhook_token or None
        self.inbound_port = inbound_port
        self.dlr_url = dlr_url or None
        self.dlr_token = dlr_token or self.webhook_token
        self._initial = Settings(fail_rate=float(fail_rate), latency_ms=latency_ms, mode=mode, **dlr_settings)
        self._lock = threading.Lock()
        self._settings = self._initial
        self._random = random.Random(seed)
        self._messages: list[dict[str, Any]] = []
        self._by_client_ref: dict[str, dict[str, Any]] = {}
        self._next_send_id = 1
        self._next_inbound_id = 1 if seed is not None else int(time.time() * 1000)
        self._dlr = _ReportPusher(self) if self.dlr_url else None
        self._routes: dict[str, dict[str, Callable[[_Request], Reply]]] = {
            SEND_PATH: {"POST": self._handle_send},
            "/sent": {"GET": self._handle_list_sent, "DELETE": self._handle_clear_sent},
            "/control": {"GET": self._handle_get_control, "POST": self._handle_set_control},
            "/inject": {"POST": self._handle_inject},
            "/health": {"GET": lambda request: Reply(200, {"status": "ok"})},
        }

    # -- in-process API ---------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request; ``headers`` keys must be lower-case."""
        methods = self._routes.get(path.rstrip("/") or "/")
        if methods is None and path.startswith(SEND_PATH + "/") and len(path) > len(SEND_PATH) + 1:
            methods = {"GET": lambda request: self._handle_status(unquote(path[len(SEND_PATH) + 1:]), request)}
        if methods is None:
            return Reply(404, {"status": "error", "reason": f"no such endpoint: {path}"})
        handler = methods.get(method.upper())
        if handler is None:
            allowed = ", ".join(sorted(methods))
            return Reply(405, {"status": "error", "reason": f"use {allowed}"}, {"Allow": allowed})
        return handler(_Request(query=query, headers=headers, body=body))

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """Copies of the accepted sends, in order, optionally only those to ``to``."""
        with self._lock:
            return [dict(m) for m in self._messages if to is None or m["to"] == to]

    def clear_sent(self) -> int:
        """Forget the recorded sends and their client_refs; return how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            self._by_client_ref.clear()
            return count

    def settings(self) -> dict[str, Any]:
        """The current fault-injection settings."""
        with self._lock:
            return asdict(self._settings)

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Change some settings (all or nothing; None leaves one as it is) and return the new ones."""
        unknown = sorted(set(settings) - _SETTING_KEYS)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        changes = {key: value for key, value in settings.items() if value is not None}
        with self._lock:
            self._settings = replace(self._settings, **changes)
            return asdict(self._settings)

    def reset(self) -> None:
        """Clear the sends and restore the settings given at start."""
        with self._lock:
            self._messages.clear()
            self._by_client_ref.clear()
            self._settings = self._initial

    def reports(self) -> list[dict[str, Any]]:
        """The delivery-report posts made so far: ``{"reports", "status"}`` (the body's
        reports and the webhook's HTTP status, None when unreachable), in order."""
        return [] if self._dlr is None else self._dlr.posted()

    def close(self) -> None:
        """Stop pushing delivery reports (those still pending are dropped)."""
        if self._dlr is not None:
            self._dlr.stop()

    def decide(self, settings: Mapping[str, Any]) -> str:
        """Roll the delivery dice: ``delivered``, ``failed`` or ``expired``."""
        with self._lock:
            roll = self._random.random()
        if roll < settings["dlr_fail_rate"]:
            return "failed"
        return "expired" if roll < settings["dlr_fail_rate"] + settings["dlr_expire_rate"] else "delivered"

    def delay_seconds(self, settings: Mapping[str, Any]) -> float:
        delay = settings["dlr_delay_ms"] / 1000
        if settings["dlr_shuffle"]:
            with self._lock:
                return self._random.uniform(0, 2 * delay)
        return delay

    def report_due(self, record: dict[str, Any], status: str) -> dict[str, Any]:
        """Record the gateway-side outcome of a send; the report to post about it."""
        at = _utc_now(timespec="milliseconds")
        with self._lock:
            record["status"], record["status_at"] = status, at
        report = {"client_ref": record["client_ref"], "gateway_sms_id": record["gateway_sms_id"], "status": status,
                  "at": at}
        if status == "failed":
            report["reason"] = DLR_FAILURE_REASON
        return report

    # -- send ----------------------------------------------------------------

    def _handle_send(self, request: _Request) -> Reply:
        settings = self.settings()
        if settings["latency_ms"]:
            time.sleep(settings["latency_ms"] / 1000)
        with self._lock:
            failed = self._random.random() < settings["fail_rate"]
        if settings["mode"] == "down":
            return Reply(503, {"status": "unavailable", "reason": "simulated outage"})
        if failed:
            return Reply(503, {"status": "unavailable", "reason": "simulated failure"})
        if not self._authorised(request.headers.get("authorization", "")):
            return Reply(401, {"status": "unauthorized", "reason": "missing or invalid bearer token"})
        if settings["mode"] == "reject":
            return Reply(422, {"status": "rejected", "reason": "simulated rejection"})
        payload = _json_object(request.body)
        if payload is None:
            return Reply(400, {"status": "rejected", "reason": "body must be a JSON object"})
        problem = _send_problem(payload)
        if problem:
            return Reply(422, {"status": "rejected", "reason": problem})
        with self._lock:
            original = self._by_client_ref.get(payload["client_ref"])
            if original is None:
                record = {
                    "client_ref": payload["client_ref"],
                    "port": payload["port"],
                    "to": payload["to"],
                    "text": payload["text"],
                    "encoding": payload["encoding"],
                    "gateway_sms_id": self._next_send_id,
                    "received_at": _utc_now(timespec="milliseconds"),
                    "status": "sent",
                }
                self._next_send_id += 1
                self._messages.append(record)
                self._by_client_ref[record["client_ref"]] = record
                gateway_sms_id, duplicate = record["gateway_sms_id"], False
            else:
                gateway_sms_id, duplicate = original["gateway_sms_id"], True
        if self._dlr is not None and not duplicate:
            self._dlr.schedule(record, settings)  # outside the lock: it rolls the dice
        logger.info(
            "send client_ref=%s port=%d encoding=%s chars=%d -> gateway_sms_id=%d duplicate=%s",
            payload["client_ref"],
            payload["port"],
            payload["encoding"],
            len(payload["text"]),
            gateway_sms_id,
            duplicate,
        )
        return Reply(200, {"status": "sent", "gateway_sms_id": gateway_sms_id, "duplicate": duplicate})

    def _handle_status(self, client_ref: str, request: _Request) -> Reply:
        """The status query: the gateway's record of ``client_ref``, 404 when it has none."""
        if self.settings()["status_mode"] == "down":
            return Reply(503, {"status": "unavailable", "reason": "simulated outage"})
        if not self._authorised(request.headers.get("authorization", "")):
            return Reply(401, {"status": "unauthorized", "reason": "missing or invalid bearer token"})
        with self._lock:
            record = self._by_client_ref.get(client_ref)
            if record is None:
                return Reply(404, {"status": "unknown", "reason": "no such client_ref"})
            answer = {"client_ref": client_ref, "gateway_sms_id": record["gateway_sms_id"], "status": record["status"],
                      "at": record.get("status_at", record["received_at"])}
        return Reply(200, answer)

    def _authorised(self, authorization: str) -> bool:
        if self.token is None:
            return True
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest(authorization.encode("utf-8", "surrogateescape"), expected)

    # -- test endpoints ------------------------------------------------------

    def _handle_list_sent(self, request: _Request) -> Reply:
        to = parse_qs(request.query).get("to", [None])[0]
        return Reply(200, {"messages": self.sent(to)})

    def _handle_clear_sent(self, request: _Request) -> Reply:
        return Reply(200, {"cleared": self.clear_sent()})

    def _handle_get_control(self, request: _Request) -> Reply:
        return Reply(200, self.settings())

    def _handle_set_control(self, request: _Request) -> Reply:
        payload = _json_object(request.body)
        if payload is None:
            return Reply(400, {"status": "error", "reason": "body must be a JSON object"})
        unknown = sorted(set(payload) - _SETTING_KEYS)
        if unknown:
            return Reply(400, {"status": "error", "reason": f"unknown setting(s): {', '.join(unknown)}"})
        for key in ("fail_rate", "dlr_fail_rate", "dlr_expire_rate"):
            if payload.get(key) is not None and _is_int(payload[key]):
                payload[key] = float(payload[key])
        try:
            settings = self.configure(**payload)
        except ValueError as exc:
            return Reply(400, {"status": "error", "reason": str(exc)})
        logger.info("control: %s", settings)
        return Reply(200, settings)

    # -- inject (playing a farmer) -----------------------------------------------

    def _handle_inject(self, request: _Request) -> Reply:
        payload = _json_object(request.body)
        if payload is None:
            return Reply(400, {"status": "error", "reason": "body must be a JSON object"})
        problem = _inject_problem(payload)
        if problem:
            return Reply(400, {"status": "error", "reason": problem})
        if self.webhook_url is None:
            return Reply(409, {"status": "error", "reason": "the simulator was started without --webhook-url"})
        return self.inject(
            sender=payload["sender"],
            text=payload["text"],
            port=payload.get("port"),
            gateway_sms_id=payload.get("gateway_sms_id"),
        )

    def inject(self, *, sender: str, text: str, port: int | None = None, gateway_sms_id: int | None = None) -> Reply:
        """Post one inbound SMS to the webhook and relay its answer (502 if unreachable).

        The lock is not held during the call, so the app may send its reply SMS
        through this simulator while it handles the webhook.
        """
        if self.webhook_url is None:
            raise RuntimeError("no webhook_url configured")
        with self._lock:
            if gateway_sms_id is None:
                gateway_sms_id = self._next_inbound_id
                self._next_inbound_id += 1
        message = {
            "gateway_sms_id": gateway_sms_id,
            "port": self.inbound_port if port is None else port,
            "sender": sender,
            "text": text,
            "timestamp": _utc_now(timespec="seconds"),
            "source": "topaz",
        }
        headers = {"Accept": "application/json"}
        if self.webhook_token:
            headers[WEBHOOK_TOKEN_HEADER] = self.webhook_token
        extra = {GATEWAY_ID_HEADER: str(gateway_sms_id)}
        try:
            response = requests.post(
                self.webhook_url, json=message, headers=headers, timeout=WEBHOOK_TIMEOUT, allow_redirects=False
            )
        except requests.RequestException as exc:
            reason = f"webhook unreachable: {describe_exception(exc)}"
            logger.warning("inject gateway_sms_id=%d: %s", gateway_sms_id, reason)
            return Reply(502, {"status": "error", "reason": reason}, extra)
        logger.info(
            "inject gateway_sms_id=%d port=%d -> webhook HTTP %d",
            gateway_sms_id,
            message["port"],
            response.status_code,
        )
        try:
            body = response.json()
        except ValueError:
            body = {"reason": "the webhook answered a non-JSON body", "body": response.text[:2000]}
        return Reply(response.status_code, body, extra)


class _ReportPusher:
    """Posts delivery reports to ``dlr_url`` when they fall due: one daemon thread, a
    heap of due reports, those due together posted in one ``{"reports": [...]}`` body
    of at most ``DLR_BATCH``. What the webhook answers is kept, not retried."""

    def __init__(self, simulator: TopazSimulator) -> None:
        self.simulator = simulator
        self._due: list[tuple[float, int, dict[str, Any], dict[str, Any]]] = []
        self._sequence = 0
        self._posted: list[dict[str, Any]] = []
        self._condition = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def schedule(self, record: dict[str, Any], settings: Mapping[str, Any]) -> None:
        due = time.monotonic() + self.simulator.delay_seconds(settings)
        with self._condition:
            self._sequence += 1
            heapq.heappush(self._due, (due, self._sequence, record, dict(settings)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="topaz-simulator-dlr", daemon=True)
                self._thread.start()
            self._condition.notify()

    def posted(self) -> list[dict[str, Any]]:
        with self._condition:
            return [dict(post) for post in self._posted]

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    self._condition.wait(None if not self._due else max(0.0, self._due[0][0] - time.monotonic()))
                if self._stopped:
                    return
                batch = []
                while self._due and self._due[0][0] <= time.monotonic() and len(batch) < DLR_BATCH:
                    batch.append(heapq.heappop(self._due))
            reports = [self.simulator.report_due(record, self.simulator.decide(settings))
                       for _, _, record, settings in batch]
            self._post(reports)
            if any(settings["dlr_twice"] for *_, settings in batch):
                self._post([r for r, (*_, settings) in zip(reports, batch, strict=True) if settings["dlr_twice"]])

    def _post(self, reports: list[dict[str, Any]]) -> None:
        headers = {"Accept": "application/json"}
        if self.simulator.dlr_token:
            headers[WEBHOOK_TOKEN_HEADER] = self.simulator.dlr_token
        status: int | None
        try:
            response = requests.post(cast(str, self.simulator.dlr_url), json={"reports": reports}, headers=headers,
                                     timeout=WEBHOOK_TIMEOUT, allow_redirects=False)
            status = response.status_code
        except requests.RequestException as exc:
            status = None
            logger.warning("delivery reports: webhook unreachable: %s", describe_exception(exc))
        logger.info("delivery reports: %d posted -> %s", len(reports), status)
        with self._condition:
            self._posted.append({"reports": reports, "status": status})


@dataclass(frozen=True, slots=True)
class _Request:
    query: str
    headers: Mapping[str, str]
    body: bytes


def _send_problem(payload: Mapping[str, Any]) -> str | None:
    """Why a send body breaks the contract, or None."""
    client_ref = payload.get("client_ref")
    if not isinstance(client_ref, str) or not client_ref.strip():
        return "client_ref must be a non-empty string"
    if len(client_ref) > MAX_CLIENT_REF_CHARS:
        return f"client_ref must be at most {MAX_CLIENT_REF_CHARS} characters"
    port = payload.get("port")
    if not _is_int(port) or not MIN_PORT <= port <= MAX_PORT:
        return f"port must be an integer {MIN_PORT}..{MAX_PORT}"
    to = payload.get("to")
    if not isinstance(to, str) or not _GUINEA_LOCAL.fullmatch(to):
        return "to must be a 9-digit Guinea number starting with 6"
    text = payload.get("text")
    if not isinstance(text, str) or not text:
        return "text must be a non-empty string"
    if len(text) > MAX_TEXT_CHARS:
        return f"text too long (at most {MAX_TEXT_CHARS} characters)"
    if payload.get("encoding") not in ENCODINGS:
        return f"encoding must be one of {', '.join(sorted(ENCODINGS))}"
    return None


def _inject_problem(payload: Mapping[str, Any]) -> str | None:
    """Type checks only: values are forwarded as-is so webhook validation can be tested."""
    for key in ("sender", "text"):
        if not isinstance(payload.get(key), str):
            return f"{key} must be a string"
    for key in ("port", "gateway_sms_id"):
        if payload.get(key) is not None and not _is_int(payload[key]):
            return f"{key} must be an integer"
    return None


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _utc_now(*, timespec: str) -> str:
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


# -- HTTP layer -------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, asks the simulator, writes JSON. No logic of its own."""

    protocol_version = "HTTP/1.1"
    server_version = "TopazSimulator/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every keep-alive answer.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._dispatch()

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch()

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PUT(self) -> None:  # noqa: N802
        self._dispatch()

    def do_PATCH(self) -> None:  # noqa: N802
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            status = 413 if length > MAX_BODY_BYTES else 400
            self._write(Reply(status, {"status": "error", "reason": "bad or too large Content-Length"}))
            return
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        simulator = cast(SimulatorHTTPServer, self.server).simulator
        try:
            reply = simulator.handle(self.command, url.path, url.query, headers, body)
        except Exception:  # the HTTP boundary: answer 500 rather than drop the connection
            logger.exception("simulator failed on %s %s", self.command, url.path)
            reply = Reply(500, {"status": "error", "reason": "simulator error"})
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        data = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout fired during --latency-ms).
            logger.debug("client went away before the answer to %s", self.path)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        logger.debug("%s %s", self.address_string(), format % args)


class SimulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`TopazSimulator`."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: TopazSimulator) -> None:
        """Bind ``address`` (port 0 picks a free port) and serve ``simulator``."""
        super().__init__(address, _Handler)
        self.simulator = simulator

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8025``."""
        host, port = self.server_address[:2]
        host = str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class RunningSimulator:
    """A simulator serving in a daemon thread; a context manager that stops it."""

    def __init__(self, server: SimulatorHTTPServer, thread: threading.Thread) -> None:
        """Wrap a started server and its thread (use :func:`start_in_thread`)."""
        self.server = server
        self.thread = thread
        self.simulator = server.simulator
        self.url = server.url
        self._stopped = False

    def sent(self, to: str | None = None) -> list[dict[str, Any]]:
        """The accepted sends, in order (see :meth:`TopazSimulator.sent`)."""
        return self.simulator.sent(to)

    def set(self, **settings: Any) -> dict[str, Any]:
        """Change settings (``mode``, ``fail_rate``, ``latency_ms``, ``status_mode``, the
        ``dlr_*`` ones), like ``POST /control``."""
        return self.simulator.configure(**settings)

    def reports(self) -> list[dict[str, Any]]:
        """The delivery-report posts so far (see :meth:`TopazSimulator.reports`)."""
        return self.simulator.reports()

    def reset(self) -> None:
        """Clear the sends and restore the start settings."""
        self.simulator.reset()

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.simulator.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_in_thread(host: str = DEFAULT_HOST, port: int = 0, **options: Any) -> RunningSimulator:
    """Start a simulator on ``host:port`` (0 = a free port) in a daemon thread.

    ``options`` are :class:`TopazSimulator`'s: ``token``, ``fail_rate``,
    ``latency_ms``, ``mode``, ``webhook_url``, ``webhook_token``, ``inbound_port``,
    ``seed``, ``dlr_url``, ``dlr_token`` and the ``dlr_*`` settings.
    """
    server = SimulatorHTTPServer((host, port), TopazSimulator(**options))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="topaz-simulator", daemon=True
    )
    thread.start()
    return RunningSimulator(server, thread)


# -- command line -----------------------------------------------------------------


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m roko_app.gateway.simulator",
        description="A fake Topaz SMS gateway (see docs/topaz-gateway.md).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to bind (default: %(default)s)")
    parser.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on sends")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="probability of a 503 per send")
    parser.add_argument("--latency-ms", type=int, default=0, help="sleep before answering a send")
    parser.add_argument("--mode", choices=MODES, default="ok", help="ok, reject (422) or down (503)")
    parser.add_argument("--webhook-url", help="our inbound webhook, for POST /inject")
    parser.add_argument("--webhook-token", help="sent as X-Roko-Webhook-Token by POST /inject")
    parser.add_argument(
        "--inbound-port", type=int, default=DEFAULT_INBOUND_PORT, help="SIM port of injected SMS (default: 17)"
    )
    parser.add_argument("--seed", type=int, help="seed the dice and start inbound ids at 1")
    parser.add_argument("--dlr-url", help="post delivery reports here (our /api/v1/webhooks/topaz/status)")
    parser.add_argument("--dlr-token", help="X-Roko-Webhook-Token of the reports (default: --webhook-token)")
    parser.add_argument("--dlr-delay-ms", type=int, default=1000, help="report this long after a send (default: 1000)")
    parser.add_argument("--dlr-fail-rate", type=float, default=0.0, help="share of sends reported failed")
    parser.add_argument("--dlr-expire-rate", type=float, default=0.0, help="share of sends reported expired")
    parser.add_argument("--dlr-twice", action="store_true", help="post every report twice")
    parser.add_argument("--dlr-shuffle", action="store_true", help="random delays up to twice --dlr-delay-ms (out of order)")
    return parser


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until Ctrl-C or SIGTERM; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        simulator = TopazSimulator(
            token=args.token,
            fail_rate=args.fail_rate,
            latency_ms=args.latency_ms,
            mode=args.mode,
            webhook_url=args.webhook_url,
            webhook_token=args.webhook_token,
            inbound_port=args.inbound_port,
            seed=args.seed,
            dlr_url=args.dlr_url,
            dlr_token=args.dlr_token,
            dlr_delay_ms=args.dlr_delay_ms,
            dlr_fail_rate=args.dlr_fail_rate,
            dlr_expire_rate=args.dlr_expire_rate,
            dlr_twice=args.dlr_twice,
            dlr_shuffle=args.dlr_shuffle,
        )
    except ValueError as exc:
        parser.error(str(exc))
    try:
        server = SimulatorHTTPServer((args.host, args.port), simulator)
    except OSError as exc:
        print(f"Topaz simulator cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    print(
        f"Topaz simulator listening on {server.url} (auth {'on' if simulator.token else 'off'}, "
        f"webhook {simulator.webhook_url or 'none'}, delivery reports {simulator.dlr_url or 'none'}, "
        f"inbound port {simulator.inbound_port})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
        server.server_close()
    logger.info("Topaz simulator stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
