"""Client for the Topaz SMS gateway's send API.

The vendor has not documented its send API to us, so this module is the one place
that holds every assumption about it: the URL path, the auth header, the request
and response bodies, and which answers are permanent rejections versus transient
failures. The contract is written down in ``docs/topaz-gateway.md``; the simulator
(:mod:`roko_app.gateway.simulator`) implements the same contract for dev and tests.

The client never retries: the outbox worker owns retries, backoff and the attempt
budget, and reuses the outbox row's ``client_ref`` on every attempt, which is what
makes a retry after an ambiguous read timeout safe.

This module does not import any Flask application code; it is usable standalone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from roko_app import metrics

logger = logging.getLogger(__name__)

#: Path of the send endpoint, appended to ``TOPAZ_URL``.
SEND_PATH: Final = "/api/v1/send"
#: Encodings the gateway accepts; our segment counter decides which one applies.
ENCODINGS: Final = frozenset({"GSM-7", "UCS-2"})
#: SIM ports of the 32-port gateway.
MIN_PORT: Final = 0
MAX_PORT: Final = 31

DEFAULT_CONNECT_TIMEOUT: Final = 3.05
DEFAULT_READ_TIMEOUT: Final = 10.0
#: Connections kept open to the gateway (per host) by the shared session.
POOL_MAXSIZE: Final = 10

_REJECT_STATUSES: Final = frozenset({400, 422})
_AUTH_STATUSES: Final = frozenset({401, 403})
_MAX_REASON_CHARS: Final = 200

SendOutcome = Literal["sent", "rejected", "transient"]
#: What the status query may say: the gateway's record of a ``client_ref``, ``unknown``
#: (404: it has none) or ``unreachable`` (no usable answer).
StatusState = Literal["queued", "sent", "delivered", "failed", "expired", "unknown", "unreachable"]
GATEWAY_STATES: Final = frozenset({"queued", "sent", "delivered", "failed", "expired"})


@dataclass(frozen=True, slots=True)
class SendResult:
    """What happened to one send attempt.

    ``sent``: the gateway accepted the SMS (``gateway_sms_id`` is set; ``duplicate``
    says the gateway had already accepted this ``client_ref``). ``rejected``: the
    gateway refused it for good (``reason``); do not retry. ``transient``: it may
    work later (``reason``); retry with the same ``client_ref``.
    """

    outcome: SendOutcome
    gateway_sms_id: int | None = None
    reason: str | None = None
    duplicate: bool = False
    http_status: int | None = None
    # A transient result after the request may have reached the gateway (a read timeout,
    # a connection lost after sending, a 2xx we could not read): it may have gone out.
    ambiguous: bool = False

    def __post_init__(self) -> None:
        if self.outcome == "sent" and self.gateway_sms_id is None:
            raise ValueError("a sent result needs a gateway_sms_id")
        if self.outcome != "sent" and not self.reason:
            raise ValueError(f"a {self.outcome} result needs a reason")

    @classmethod
    def sent(cls, gateway_sms_id: int, *, duplicate: bool = False, http_status: int | None = 200) -> SendResult:
        """The gateway accepted the SMS (or had already accepted this client_ref)."""
        return cls("sent", gateway_sms_id=gateway_sms_id, duplicate=duplicate, http_status=http_status)

    @classmethod
    def rejected(cls, reason: str, *, http_status: int | None = None) -> SendResult:
        """The gateway refused the SMS permanently."""
        return cls("rejected", reason=reason, http_status=http_status)

    @classmethod
    def transient(cls, reason: str, *, http_status: int | None = None, ambiguous: bool = False) -> SendResult:
        """The attempt failed in a way that may succeed later (``ambiguous``: it may
        also have gone out)."""
        return cls("transient", reason=reason, http_status=http_status, ambiguous=ambiguous)

    @property
    def is_sent(self) -> bool:
        """True when the gateway accepted the SMS."""
        return self.outcome == "sent"

    @property
    def is_rejected(self) -> bool:
        """True when the gateway refused the SMS for good."""
        return self.outcome == "rejected"

    @property
    def is_transient(self) -> bool:
        """True when the caller should retry later with the same client_ref."""
        return self.outcome == "transient"


@dataclass(frozen=True, slots=True)
class StatusResult:
    """The gateway's answer to the status query for one ``client_ref``.

    ``queued``/``sent``: it accepted the SMS (``gateway_sms_id``); ``delivered``,
    ``failed``, ``expired``: its delivery report (``at``); ``unknown``: it has no record
    of it (it never went out, sending again is safe); ``unreachable``: no usable answer
    (``reason``), so nothing is known.
    """

    state: StatusState
    gateway_sms_id: int | None = None
    at: datetime | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """True when the gateway has the SMS (whatever became of it since)."""
        return self.state in GATEWAY_STATES


class TopazClient:
    """Sends SMS through the Topaz gateway (``POST {base_url}/api/v1/send``).

    One client holds one ``requests.Session`` with a pooled adapter and no
    automatic retries. Share a client within a thread; give each worker thread its
    own client (``requests.Session`` is not documented as thread-safe).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        send_port: int,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        """Build a client.

        ``token`` may be empty (no ``Authorization`` header; only useful against the
        simulator without ``--token``). ``session`` is for callers that manage their
        own; the client then does not close it.
        """
        _check_url(base_url, "base_url")
        _check_token(token, "token")
        _check_port(send_port, "send_port")
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.base_url = base_url.strip().rstrip("/")
        self.send_url = self.base_url + SEND_PATH
        self.send_port = send_port
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self._token = token or ""
        self._owns_session = session is None
        self._session = session if session is not None else _new_session(self.base_url)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, session: requests.Session | None = None) -> TopazClient:
        """Build a client from Flask config keys (loaded from ``ROKO_TOPAZ_*``).

        ``TOPAZ_URL`` and ``TOPAZ_SEND_PORT`` are required; ``TOPAZ_TOKEN`` defaults to
        empty; ``TOPAZ_CONNECT_TIMEOUT`` and ``TOPAZ_READ_TIMEOUT`` default to 3.05 s
        and 10 s. Raises ``ValueError`` naming the key when a value is missing or bad.
        """
        url = config.get("TOPAZ_URL")
        if not url or not str(url).strip():
            raise ValueError("TOPAZ_URL is not set (environment variable ROKO_TOPAZ_URL)")
        _check_url(str(url), "TOPAZ_URL")
        token = "" if config.get("TOPAZ_TOKEN") is None else str(config["TOPAZ_TOKEN"])
        _check_token(token, "TOPAZ_TOKEN")
        return cls(
            str(url),
            token,
            _config_port(config, "TOPAZ_SEND_PORT"),
            connect_timeout=_config_float(config, "TOPAZ_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=_config_float(config, "TOPAZ_READ_TIMEOUT", DEFAULT_READ_TIMEOUT),
            session=session,
        )

    def __repr__(self) -> str:
        # Deliberately without the token.
        return f"TopazClient(base_url={self.base_url!r}, send_port={self.send_port})"

    def __enter__(self) -> TopazClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (only of a session this client created)."""
        if self._owns_session:
            self._session.close()

    def send(self, *, client_ref: str, to: str, text: str, encoding: str, port: int | None = None) -> SendResult:
        """Send one SMS and classify the answer; never raises for network or gateway trouble.

        ``client_ref`` is our outbound message id and must be the same on every
        attempt for one message. ``port`` defaults to ``send_port``. Raises
        ``ValueError`` only for programming errors: an empty ``client_ref``, a port
        outside 0..31 or an encoding other than ``GSM-7``/``UCS-2``.
        """
        if not client_ref:
            raise ValueError("client_ref must not be empty")
        port = self.send_port if port is None else port
        _check_port(port, "port")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(ENCODINGS)}, not {encoding!r}")
        payload = {"client_ref": client_ref, "port": port, "to": to, "text": text, "encoding": encoding}
        level = logging.WARNING
        started = time.perf_counter()
        try:
            response = self._session.post(
                self.send_url,
                json=payload,
                headers=self._headers(),
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
            )
        except requests.exceptions.ConnectTimeout:
            result = SendResult.transient(f"connect timeout after {self.connect_timeout:g}s (not sent)")
        except requests.exceptions.ReadTimeout:
            result = SendResult.transient(
                f"read timeout after {self.read_timeout:g}s (outcome unknown; retry with the same client_ref)",
                ambiguous=True,
            )
        except requests.exceptions.ConnectionError as exc:
            # Refused or unresolved: nothing left us. Anything else (a reset, a closed
            # connection) may have happened after the request was written.
            result = SendResult.transient(_clip(f"connection error: {describe_exception(exc)}"),
                                          ambiguous=not _never_connected(exc))
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # The answer came but its body could not be read (cut off, undecodable): the
            # gateway had the request, and may have sent it.
            result = SendResult.transient(
                f"the answer could not be read ({type(exc).__name__}; outcome unknown; retry with the same client_ref)",
                ambiguous=True,
            )
        except requests.RequestException as exc:
            # Only the type: some messages (e.g. InvalidHeader) quote header values. These
            # are raised before the request is written (a bad URL or header): nothing left us.
            result = SendResult.transient(f"request failed: {type(exc).__name__}")
        else:
            result, level = _interpret(response)
        metrics.GATEWAY_DURATION.labels("send").observe(time.perf_counter() - started)
        metrics.GATEWAY_SENDS.labels(result.outcome, str(port)).inc()
        _log_result(level, client_ref, port, result)
        return result

    def status(self, client_ref: str) -> StatusResult:
        """Ask the gateway what became of ``client_ref`` (``GET {base_url}/api/v1/send/{client_ref}``);
        never raises for network or gateway trouble (``unreachable``)."""
        if not client_ref:
            raise ValueError("client_ref must not be empty")
        started = time.perf_counter()
        try:
            response = self._session.get(
                f"{self.send_url}/{quote(client_ref, safe='')}",
                headers=self._headers(),
                timeout=(self.connect_timeout, self.read_timeout),
                allow_redirects=False,
            )
        except requests.exceptions.Timeout:
            result = StatusResult("unreachable", reason="status query timed out")
        except requests.RequestException as exc:
            result = StatusResult("unreachable", reason=_clip(f"status query failed: {describe_exception(exc)}"))
        else:
            result = _interpret_status(response)
        metrics.GATEWAY_DURATION.labels("status").observe(time.perf_counter() - started)
        logger.log(logging.INFO if result.state != "unreachable" else logging.WARNING,
                   "Topaz status client_ref=%s: %s%s", client_ref, result.state,
                   f" ({result.reason})" if result.reason else "")
        return result

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers


def _interpret(response: requests.Response) -> tuple[SendResult, int]:
    """Map an HTTP answer to a result and the level to log it at."""
    status = response.status_code
    if 200 <= status < 300:
        return _parse_accepted(response)
    if status in _REJECT_STATUSES:
        return SendResult.rejected(_rejection_reason(response), http_status=status), logging.WARNING
    if status in _AUTH_STATUSES:
        reason = f"gateway refused our credentials (HTTP {status}); check TOPAZ_TOKEN"
        return SendResult.transient(reason, http_status=status), logging.ERROR
    if status == 429:
        return SendResult.transient("rate limited (HTTP 429)", http_status=status), logging.WARNING
    if status >= 500:
        return SendResult.transient(f"gateway error (HTTP {status})", http_status=status), logging.WARNING
    reason = f"unexpected HTTP {status} (check TOPAZ_URL)"
    return SendResult.transient(reason, http_status=status), logging.ERROR


def _parse_accepted(response: requests.Response) -> tuple[SendResult, int]:
    """A 2xx must carry ``{"status": "sent", "gateway_sms_id": int >= 0}``."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        problem = "body is not JSON"
    else:
        gateway_sms_id = data.get("gateway_sms_id") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("status") != "sent":
            problem = "status is not 'sent'"
        elif not isinstance(gateway_sms_id, int) or isinstance(gateway_sms_id, bool) or gateway_sms_id < 0:
            problem = "no valid gateway_sms_id"
        else:
            duplicate = data.get("duplicate") is True
            return SendResult.sent(gateway_sms_id, duplicate=duplicate, http_status=status), logging.INFO
    reason = f"malformed {status} response: {problem}"
    return SendResult.transient(reason, http_status=status, ambiguous=True), logging.ERROR


def _never_connected(exc: BaseException) -> bool:
    """Whether a connection error happened before a connection existed (refused, DNS)."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        if isinstance(current, NewConnectionError):
            return True
        seen.add(id(current))
        current = _cause_of(current)
    return False


def _interpret_status(response: requests.Response) -> StatusResult:
    status = response.status_code
    if status == 404:
        return StatusResult("unknown")
    if status != 200:
        return StatusResult("unreachable", reason=f"status query answered HTTP {status}")
    try:
        data = response.json()
    except ValueError:
        data = None
    state = data.get("status") if isinstance(data, dict) else None
    gateway_sms_id = data.get("gateway_sms_id") if isinstance(data, dict) else None
    if state not in GATEWAY_STATES:
        return StatusResult("unreachable", reason="malformed status answer: no known status")
    if gateway_sms_id is not None and (not isinstance(gateway_sms_id, int) or isinstance(gateway_sms_id, bool)
                                       or gateway_sms_id < 0):
        return StatusResult("unreachable", reason="malformed status answer: bad gateway_sms_id")
    return StatusResult(state, gateway_sms_id, _parse_at(data.get("at")))


def _parse_at(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rejection_reason(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    reason = data.get("reason") if isinstance(data, dict) else None
    if isinstance(reason, str) and reason.strip():
        return _clip(reason.strip())
    snippet = " ".join(response.text.split())[:100]
    return _clip(f"HTTP {response.status_code}: {snippet}" if snippet else f"HTTP {response.status_code}")


def _log_result(level: int, client_ref: str, port: int, result: SendResult) -> None:
    # Never the token; not the number or the text either (personal data, codes).
    if result.is_sent:
        logger.log(
            level,
            "Topaz accepted client_ref=%s port=%d gateway_sms_id=%s duplicate=%s",
            client_ref,
            port,
            result.gateway_sms_id,
            result.duplicate,
        )
    else:
        logger.log(
            level,
            "Topaz send %s client_ref=%s port=%d: %s",
            result.outcome,
            client_ref,
            port,
            result.reason,
        )


def describe_exception(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, e.g. ``Connection refused``."""
    current = exc
    seen = {id(current)}
    while True:
        following = _cause_of(current)
        if following is None or id(following) in seen:
            break
        seen.add(id(following))
        current = following
    if isinstance(current, OSError) and current.strerror:
        return current.strerror
    return str(current) or type(current).__name__


def _cause_of(exc: BaseException) -> BaseException | None:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    if exc.args and isinstance(exc.args[0], BaseException):
        return exc.args[0]
    return exc.__cause__ or exc.__context__


def _new_session(base_url: str) -> requests.Session:
    session = requests.Session()
    # The environment is read once, here, for the gateway's address: its proxy (HTTP(S)_PROXY,
    # NO_PROXY) and CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE). With ``trust_env`` on,
    # requests re-reads the proxy settings on every call (a third of a send's CPU) and
    # lets a ``~/.netrc`` entry for the gateway's host replace the bearer token.
    session.proxies = requests.utils.get_environ_proxies(base_url)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    # max_retries=0: no automatic retries at any level; the outbox worker owns them.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_MAXSIZE, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _check_url(url: str, name: str) -> None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL such as http://127.0.0.1:8025, not {url!r}")


def _check_token(token: str, name: str) -> None:
    # A bearer token is printable ASCII without spaces; anything else would fail
    # inside requests with an error message that quotes the header, token included.
    if token and not all(0x21 <= ord(char) <= 0x7E for char in token):
        raise ValueError(f"{name} must be printable ASCII without spaces or line breaks (value not shown)")


def _check_port(port: object, name: str) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not MIN_PORT <= port <= MAX_PORT:
        raise ValueError(f"{name} must be a SIM port {MIN_PORT}..{MAX_PORT}, not {port!r}")


def _config_port(config: Mapping[str, Any], key: str) -> int:
    value = config.get(key)
    if value is None or value == "" or isinstance(value, bool):
        raise ValueError(f"{key} is not set (environment variable ROKO_{key})")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a SIM port {MIN_PORT}..{MAX_PORT}, not {value!r}") from None
    _check_port(port, key)
    return port


def _config_float(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a number of seconds, not {value!r}") from None
    if isinstance(value, bool) or number <= 0:
        raise ValueError(f"{key} must be a positive number of seconds, not {value!r}")
    return number


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON_CHARS else text[: _MAX_REASON_CHARS - 3] + "..."
