"""Signed calls to Optimove: ``POST <OPTIMOVE_BASE_URL><path>`` with ``app-api-key`` and
``x-hub-signature: sha256=<lowercase hex HMAC of the exact bytes sent>`` (docs/optimove.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from roko_app.gateway.topaz import describe_exception
from roko_app.web.credentials import sign

logger = logging.getLogger(__name__)

PATHS: Final = {
    "handshake": "/api/v1/aggregator/handshake",
    "delivery-report": "/api/v1/aggregator/delivery-report",
    "incoming-message": "/api/v1/aggregator/incoming-message",
}
TIMEOUT: Final = (3.05, 15.0)
#: Answers worth trying again later; any other non-2xx is final (the dead letter).
RETRY_STATUSES: Final = frozenset({408, 425, 429})

CallOutcome = Literal["sent", "retry", "dead"]


@dataclass(frozen=True, slots=True)
class CallResult:
    outcome: CallOutcome
    http_status: int | None = None
    reason: str | None = None


class OptimoveClient:
    """Posts exact bytes, signed, to one tenant app's ``base_url``; never retries itself."""

    def __init__(self, base_url: str, app_api_key: str, secret: str, *, timeout: tuple[float, float] = TIMEOUT) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("OPTIMOVE_BASE_URL must be an http(s) URL")
        if not app_api_key or not secret:
            raise ValueError("OPTIMOVE_APP_API_KEY and OPTIMOVE_HMAC_SECRET are needed to call Optimove")
        self.base_url = base_url.strip().rstrip("/")
        self._key, self._secret, self.timeout = app_api_key, secret, timeout
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.mount("http://", HTTPAdapter(max_retries=0))
        self._session.mount("https://", HTTPAdapter(max_retries=0))

    def close(self) -> None:
        self._session.close()

    def post(self, kind: str, body: bytes, idempotency_key: str) -> CallResult:
        """POST ``body`` (the exact bytes, signed) to the path of ``kind``."""
        headers = {"content-type": "application/json", "app-api-key": self._key,
                   "x-hub-signature": sign(body, self._secret), "Idempotency-Key": idempotency_key}
        try:
            response = self._session.post(self.base_url + PATHS[kind], data=body, headers=headers,
                                          timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            result = CallResult("retry", None, f"network error: {describe_exception(exc)}"[:200])
        else:
            status = response.status_code
            if 200 <= status < 300:
                result = CallResult("sent", status)
            elif status >= 500 or status in RETRY_STATUSES:
                result = CallResult("retry", status, f"HTTP {status}")
            else:
                result = CallResult("dead", status, f"HTTP {status}: {' '.join(response.text.split())[:150]}")
        # The status only: Optimove's error text may quote what we sent (numbers, texts).
        logger.log(logging.INFO if result.outcome == "sent" else logging.WARNING, "Optimove %s %s: %s (HTTP %s)", kind,
                   idempotency_key, result.outcome, result.http_status or "-")
        return result
