"""Helpers shared by the tests: the test configuration, requests to the JSON APIs (with
valid credentials) and checks of their answers, logging in (test client and browser),
reading pages (CSRF token, pager links), Redis, and running the worker."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import redis
import yaml
from sqlalchemy import func, select

from roko_app.extensions import db
from roko_app.models import CampaignBatch, CampaignRejection, InboundDiscrepancy, InboundSms, OutboundSms
from roko_app.web.credentials import sign
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
WEBHOOK_TOKEN = "test-inbound-token"
SIM_TOKEN = "sim-token"


# --------------------------------------------------------------------------- the app and its database


def base_config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {"ENV": "test", "DATABASE_URL": database_url, "WEBHOOK_INBOUND_TOKEN": WEBHOOK_TOKEN,
            "SECRET_KEY": "test-secret", "INBOUND_PORTS": "", **extra}


def wipe_database(app: Any) -> None:
    """Delete every row, then restore the data the migrations seed (reply templates)."""
    from roko_app.models import ReplyTemplate
    from roko_app.services.replies import DEFAULT_REPLIES

    with app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.execute(ReplyTemplate.__table__.insert(), [
                {"key": str(key), "text": text, "updated_at": datetime.now(UTC), "updated_by": "seed"}
                for key, text in DEFAULT_REPLIES.items()
            ])
        db.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- JSON APIs


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is our JSON error (``{"error", "message", "code"}``) with this status
    and problem code; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) >= {"error", "message", "code"}
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    return body


# The inbound webhook (seed 000, inbound half).
INBOUND_URL = "/api/v1/webhooks/topaz/inbound"
URL = INBOUND_URL  # the name the inbound webhook's tests know it by
SEED_EXAMPLE = {
    "gateway_sms_id": 101,
    "port": 17,
    "sender": "612345678",
    "text": "ROKO U12345678",
    "timestamp": "2026-05-15T10:30:00Z",
    "source": "topaz",
}


def post(client: Any, body: Any = None, *, token: str | None = WEBHOOK_TOKEN, raw: bytes | None = None,
         content_type: str = "application/json", **headers: str) -> Any:
    """POST ``body`` (as JSON, or ``raw`` bytes) to the inbound webhook with its token."""
    if token is not None:
        headers["X-Roko-Webhook-Token"] = token
    data = raw if raw is not None else json.dumps(body)
    return client.post(URL, data=data, content_type=content_type, headers=headers)


def body_with(**changes: Any) -> dict[str, Any]:
    """:data:`SEED_EXAMPLE` with fields changed; a field given as ``...`` is left out."""
    body = dict(SEED_EXAMPLE)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def count(app: Any, model: Any = InboundSms) -> int:
    """How many rows ``model`` has."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


# The gateway's delivery reports (docs/topaz-gateway.md §4), with the inbound webhook's token.
STATUS_URL = "/api/v1/webhooks/topaz/status"


def post_reports(client: Any, body: Any, *, token: str | None = WEBHOOK_TOKEN) -> Any:
    """POST ``body`` (one report, or ``{"reports": [...]}``) to the delivery-report webhook."""
    headers = {"X-Roko-Webhook-Token": token} if token is not None else {}
    return client.post(STATUS_URL, json=body, headers=headers)


# The send API (seed 000, send half).
SEND_URL = "/api/v1/sms/send"
SEND_SEED_EXAMPLE = {"phone_number": "612345678", "text": "Merci pour votre participation ROKO.",
                     "template_key": "VALID_FIRST"}


def send(app: Any, body: Any, key: str | None) -> Any:
    """POST ``body`` to the send API with the API key ``key`` (none if None)."""
    headers = {"x-api-key": key} if key is not None else {}
    return app.test_client().post(SEND_URL, json=body, headers=headers)


# --------------------------------------------------------------------------- the three JSON APIs, valid credentials

OPTIMOVE_URL = "/api/v1/webhooks/optimove/campaigns"
OPTIMOVE_KEY = "test-optimove-key"
OPTIMOVE_SECRET = "test-optimove-secret"  # noqa: S105 (tests only)
JSON_APIS = ("inbound", "send", "optimove")
#: A valid body of each API (the seeds' examples, the Optimove numbers made Guinean).
VALID_BODIES: dict[str, dict[str, Any]] = {
    "inbound": {"gateway_sms_id": 101, "port": 17, "sender": "612345678", "text": "ROKO U12345678",
                "timestamp": "2026-05-15T10:30:00Z", "source": "topaz"},
    "send": {"phone_number": "612345678", "text": "Merci pour votre participation ROKO.",
             "template_key": "VALID_FIRST"},
    "optimove": {"batchId": "batch-123",
                 "metadata": {"appId": 123, "brandId": "roko", "campaignId": "232522", "campaignType": 1,
                              "channelId": 493, "engagementId": "aaabbbccc", "isHashed": False,
                              "scheduledTime": 1704106200000, "tenantId": 1},
                 "recipients": [{"message": "Hello! Your order is ready for pickup.",
                                 "mobileNumber": "+224612345678", "customerId": "customer-001"}]},
}


def api_config(simulator_url: str) -> dict[str, Any]:
    """``make_app`` overrides under which all three APIs work: the gateway simulator
    (:data:`SIM_TOKEN`), Optimove's key and secret, no throttle."""
    return {"TOPAZ_URL": simulator_url, "TOPAZ_TOKEN": SIM_TOKEN, "TOPAZ_CONNECT_TIMEOUT": 0.5,
            "TOPAZ_READ_TIMEOUT": 0.5, "OPTIMOVE_API_KEY": OPTIMOVE_KEY, "OPTIMOVE_HMAC_SECRET": OPTIMOVE_SECRET,
            "TOPAZ_RATE_PER_PORT": 0, "SEND_RATE_LIMIT": "100000/minute", "OPTIMOVE_RATE_LIMIT": "100000/minute"}


def post_raw(client: Any, api: str, raw: bytes, *, api_key: str,
             content_type: str = "application/json") -> Any:
    """POST ``raw`` to one of ``JSON_APIS`` with valid credentials (Optimove's signed
    over these very bytes)."""
    headers = {"Content-Type": content_type}
    if api == "inbound":
        url, headers["X-Roko-Webhook-Token"] = INBOUND_URL, WEBHOOK_TOKEN
    elif api == "send":
        url, headers["x-api-key"] = SEND_URL, api_key
    else:
        url = OPTIMOVE_URL
        headers.update({"X-API-Key": OPTIMOVE_KEY, "x-hub-signature": sign(raw, OPTIMOVE_SECRET)})
    return client.post(url, data=raw, headers=headers)


def stored_rows(app: Any) -> dict[str, int]:
    """How many rows each table the JSON APIs write holds."""
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (InboundSms, InboundDiscrepancy, OutboundSms, CampaignBatch, CampaignRejection)}


def assert_documented_error(response: Any, status: int | None = None, code: str | None = None) -> dict[str, Any]:
    """A JSON error in the documented shape (``details`` entries are ``{field, problem}``
    strings); checks the status and code when given; returns the body."""
    if status is not None:
        assert response.status_code == status, response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict) and {"error", "message", "code"} <= set(body), body
    assert all(isinstance(body[name], str) and body[name] for name in ("error", "message", "code")), body
    if code is not None:
        assert body["code"] == code, body
    for detail in body.get("details", []):
        assert set(detail) == {"field", "problem"} and all(isinstance(v, str) for v in detail.values()), body
    return body


# --------------------------------------------------------------------------- what openapi.yaml documents

SPEC_PATH = ROOT / "openapi.yaml"


@functools.cache
def openapi_spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text())


def resolve_refs(node: Any) -> Any:
    """``node`` with local ``$ref``s inlined (the document has no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = openapi_spec()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve_refs(target)
        return {key: resolve_refs(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve_refs(item) for item in node]
    return node


def assert_documented_response(path: str, method: str, response: Any) -> None:
    """``response`` has a status the document lists for the operation, and a JSON body
    that matches the schema documented for that status."""
    operation = resolve_refs(openapi_spec()["paths"][path][method.lower()])
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method} {path}: status {response.status_code} is not documented: {response.get_data()!r}"
    assert response.mimetype == "application/json", response.get_data()
    schema = documented["content"]["application/json"]["schema"]
    jsonschema.validate(response.get_json(), schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# --------------------------------------------------------------------------- console pages


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def post_login(client: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    """Submit the log-in form (with the CSRF token of a fresh log-in page); the response."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


def log_in(client: Any, email: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in (the log-in must succeed); returns the client."""
    response = post_login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def english(client: Any) -> Any:
    """Switch ``client``'s console to English; returns the client."""
    client.get("/lang/en?next=/console/")
    return client


def pager_link(html: str, rel: str) -> str | None:
    """The URL of the pager's ``rel="next"`` (older) or ``rel="prev"`` (newer) link, if any."""
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    return match.group(1).replace("&amp;", "&") if match else None


# --------------------------------------------------------------------------- a real browser

# Screenshots kept as test artefacts (git-ignored).
ARTIFACTS = ROOT / "test-artifacts"
PHONE = {"width": 360, "height": 780}
LAPTOP = {"width": 1280, "height": 800}


@contextlib.contextmanager
def checked_page(browser: Any, **context_options: Any) -> Iterator[Any]:
    """A French page in a fresh browser context; fails the test on any script error or
    console error (a CSP violation, a broken script, a 404 asset)."""
    context = browser.new_context(locale="fr-FR", **context_options)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
           if message.type == "error" else None)
    yield tab
    context.close()
    assert problems == [], problems


def log_in_browser(page: Any, base_url: str, email: str = "operator@roko.test") -> None:
    page.goto(base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/console/")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


# --------------------------------------------------------------------------- Redis

REDIS_URL = os.environ.get("ROKO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_available() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# --------------------------------------------------------------------------- the worker


def worker_config(simulator: Any, **extra: Any) -> dict[str, Any]:
    """App config for a worker against ``simulator``: short gateway timeouts, throttle off."""
    return {"TOPAZ_URL": simulator.url, "TOPAZ_TOKEN": SIM_TOKEN, "TOPAZ_SEND_PORT": 17,
            "TOPAZ_CONNECT_TIMEOUT": 0.5, "TOPAZ_READ_TIMEOUT": 0.5, "TOPAZ_RATE_PER_PORT": 0, **extra}


def run_once(app: Any, **options: Any) -> Any:
    """One ``--once`` pass in this process; its ``WorkerStats``."""
    from roko_app.worker import Worker  # here: every test imports this module, few run a worker

    with app.app_context():
        return Worker.from_app(app, **options).run(once=True)


def outbox(app: Any) -> list[OutboundSms]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)))
        db.session.expunge_all()
        db.session.commit()
        return rows


def count_status(app: Any, status: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(OutboundSms).where(OutboundSms.status == status))
        db.session.commit()
        return int(found or 0)


def refs(ids: list[int]) -> list[str]:
    return [f"roko-out-{i}" for i in ids]


def sent_refs(simulator: Any) -> list[str]:
    return [message["client_ref"] for message in simulator.sent()]


def worker_process(app: Any, simulator: Any, *args: str, log_path: Path, **env: str) -> subprocess.Popen[str]:
    """``python -m flask --app wsgi roko worker ARGS`` on the test database; INFO log to ``log_path``."""
    full_env = {**os.environ, "ROKO_ENV": "test", "ROKO_DATABASE_URL": app.config["DATABASE_URL"],
                "ROKO_TOPAZ_URL": simulator.url, "ROKO_TOPAZ_TOKEN": SIM_TOKEN, "ROKO_TOPAZ_RATE_PER_PORT": "0",
                "ROKO_TOPAZ_CONNECT_TIMEOUT": "0.5", "ROKO_TOPAZ_READ_TIMEOUT": "1.0",
                "ROKO_RATELIMIT_STORAGE_URI": "memory://", "ROKO_LOG_LEVEL": "INFO", **env}
    with open(log_path, "a") as log_file:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "roko", "worker", *args],
                                cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=log_file, text=True)


# --- farmers' SMS through the webhook, then the classifier ----------------------------------

_sms_ids = itertools.count(100_000)


def text_in(app: Any, text: str, sender: str = "612345678", *, gateway_sms_id: int | None = None, port: int = 17,
            classify: bool = True) -> int:
    """Post a farmer's SMS to the inbound webhook and, unless ``classify`` is False, run
    the classifier as the worker would; the stored SMS's id."""
    body = {"gateway_sms_id": gateway_sms_id if gateway_sms_id is not None else next(_sms_ids), "port": port,
            "sender": sender, "text": text, "timestamp": datetime.now(UTC).isoformat()}
    response = app.test_client().post(URL, json=body, headers={"X-Roko-Webhook-Token": WEBHOOK_TOKEN})
    assert response.status_code == 200, response.get_json()
    if classify:
        classify_all(app)
    return int(response.get_json()["sms_id"])


def classify_all(app: Any, **options: Any) -> Any:
    """Classify every stored SMS (``flask roko worker --once --jobs classify``); its stats."""
    from roko_app.worker import Classifier

    with app.app_context():
        return Classifier.from_app(app, **options).run(once=True)


def expected_reply(key: str, **values: Any) -> str:
    """The default French reply ``key`` with its placeholders filled."""
    from roko_app.services.replies import DEFAULT_REPLIES

    return DEFAULT_REPLIES[key].format_map({"code": "", "chances": 0, "hours": 24, **values})


# --------------------------------------------------------------------------- what the app's log handler writes


@contextlib.contextmanager
def formatted_log() -> Iterator[io.StringIO]:
    """Everything the app's log handler (stderr, in ``ROKO_LOG_FORMAT``) writes while inside."""
    from roko_app.web.request_log import app_log_handler

    handler = app_log_handler()
    assert handler is not None, "create the app first: it installs the handler"
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


# --- a drand relay on loopback (drand's HTTP API: GET /{chain_hash}/public/{round}) --------


@contextlib.contextmanager
def drand_relay(rounds: dict[str, dict[str, Any]], status: int = 200) -> Iterator[tuple[str, list[str]]]:
    """Serve ``rounds`` (``"{chain_hash}/public/{round}"`` -> JSON body) like drand's HTTP
    API, or answer ``status`` for everything; yields the base URL and the paths asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            body = rounds.get(self.path.lstrip("/"))
            code = status if status != 200 else (200 if body is not None else 404)
            payload = json.dumps(body if code == 200 else {"error": "not found"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
