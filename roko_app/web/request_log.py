"""Logging configured once, and one access line per request carrying a request id."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Six digits or more: could be a phone number (/console/farmers/612345678), never logged.
_LONG_NUMBER = re.compile(r"\+?\d{6,}")
access_log = logging.getLogger("roko_app.access")


def loggable_path(path: str) -> str:
    """``path`` as logged: anything that could be a phone number replaced by ``<number>``."""
    return _LONG_NUMBER.sub("<number>", path)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(app: Flask) -> None:
    logger = logging.getLogger("roko_app")
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    if not any(getattr(h, "_roko", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler._roko = True  # type: ignore[attr-defined]
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
        handler.addFilter(_RequestIdFilter())
        logger.addHandler(handler)
    for existing in logger.handlers:
        if not any(isinstance(f, _RequestIdFilter) for f in existing.filters):
            existing.addFilter(_RequestIdFilter())


def register_request_logging(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        presented = request.headers.get("X-Request-ID", "")
        g.request_id = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
            elapsed_ms = (time.perf_counter() - g.request_started) * 1000
            access_log.info("%s %s %s %.1fms", request.method, loggable_path(request.path), response.status_code,
                            elapsed_ms)
        return response
