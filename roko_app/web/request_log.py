"""Logging configured once (text, or one JSON object per line), and one access line per
request carrying a request id, its route template, status and duration."""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Six digits or more, however separated by spaces, dots, dashes or parentheses: could be
# a phone number (/console/farmers/612345678, /console/farmer/+224-612-34-56-78), never logged.
_LONG_NUMBER = re.compile(r"\+?\d(?:[ \u00a0.()-]*\d){5,}")
# What a text log line must not carry as it is: a line break would start a forged line, and
# other control characters (NUL, escape sequences) garble terminals and log tools.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROL.update({0x2028: "\\u2028", 0x2029: "\\u2029"})
access_log = logging.getLogger("roko_app.access")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# The JSON line: these record attributes, renamed; a record's extra attributes (the
# access line's route, status, duration_ms; the message ids) follow them.
_JSON_FIELDS = "%(levelname)s %(name)s %(request_id)s %(message)s"
_JSON_RENAMES = {"levelname": "level", "name": "logger"}
# Log calls whose first argument is a message id, by how their format begins: the id is
# copied into a field of its own (JSON), so lines can be searched by message.
_ID_FIELDS = (("outbound %", "outbound_id"), ("inbound sms %", "sms_id"), ("no reply to sms %", "sms_id"),
              ("campaign batch %", "campaign_batch_id"))


def loggable_path(path: str) -> str:
    """``path`` as logged: anything that could be a phone number replaced by ``<number>``."""
    return _LONG_NUMBER.sub("<number>", path)


class _RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) and the message ids of known log calls."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        if isinstance(record.msg, str) and isinstance(record.args, tuple) and record.args:
            for prefix, field in _ID_FIELDS:
                if record.msg.startswith(prefix) and not hasattr(record, field):
                    setattr(record, field, record.args[0])
                    break
        return True


class TextFormatter(logging.Formatter):
    """One line per record: control characters in the message (a path, a batch id, an
    error's text as a client sent them) are written as ``\\xNN`` escapes, so no value can
    break the line or forge another. A traceback, after the message, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = record.message.translate(_CONTROL)
        return super().formatMessage(record)


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``ROKO_LOG_FORMAT``: ``text`` (the default; :class:`TextFormatter`)
    or ``json`` (python-json-logger: time in ISO 8601 UTC, level, logger, request_id,
    message, extras; JSON escapes control characters itself)."""
    if log_format == "json":
        return JsonFormatter(_JSON_FIELDS, rename_fields=_JSON_RENAMES, timestamp="time")
    return TextFormatter(TEXT_FORMAT)


def app_log_handler() -> logging.StreamHandler | None:  # type: ignore[type-arg]
    """The handler :func:`configure_logging` put on the ``roko_app`` logger, if any."""
    return next((h for h in logging.getLogger("roko_app").handlers if getattr(h, "_roko", False)), None)


def configure_logging(app: Flask) -> None:
    """One handler on the ``roko_app`` logger (stderr) for the web app and the worker
    alike; the last app created sets its level and format."""
    logger = logging.getLogger("roko_app")
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    handler = app_log_handler()
    if handler is None:
        handler = logging.StreamHandler()
        handler._roko = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    handler.setFormatter(make_formatter(app.config.get("LOG_FORMAT", "text")))
    for existing in logger.handlers:
        if not any(isinstance(f, _RequestIdFilter) for f in existing.filters):
            existing.addFilter(_RequestIdFilter())


def route_of_request() -> str:
    """The matched route's template (``/console/farmers/<msisdn>``), never the path
    itself; for a URL that matches no route, the path. Numbers masked in both."""
    rule = request.url_rule
    return route_template(rule.rule) if rule is not None else loggable_path(request.path)


@functools.lru_cache(maxsize=1024)
def route_template(rule: str) -> str:
    """A route's template as logged and as a metrics label (few, fixed: cached)."""
    return loggable_path(rule)


def register_request_logging(app: Flask) -> None:
    def _start() -> None:
        presented = request.headers.get("X-Request-ID", "")
        g.request_id = presented if _REQUEST_ID.match(presented) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    # First of all before-request hooks, so a request another hook answers (CSRF's 400,
    # the rate limiter's 429) still gets its id and its access line.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
            if not access_log.isEnabledFor(logging.INFO):
                return response
            elapsed_ms = round((time.perf_counter() - g.request_started) * 1000, 1)
            route = route_of_request()
            access_log.info("%s %s %s %.1fms", request.method, route, response.status_code, elapsed_ms,
                            extra={"method": request.method, "route": route, "status": response.status_code,
                                   "duration_ms": elapsed_ms})
        return response
