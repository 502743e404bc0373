"""The JSON error shape and the app-level error handlers.

Every JSON error is ``{"error": <title>, "message": <sentence>, "code": <CODE>}`` plus
``"details": [{"field", "problem"}]`` for field errors. Paths under ``/api/`` (and the
health probes) always answer JSON; everything else renders ``templates/errors/<code>.html``
when a page of its own exists, else ``templates/errors/generic.html``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from roko_app.extensions import db
from roko_app.web.request_log import loggable_path

log = logging.getLogger(__name__)

# HTTP status → default error code for errors raised by Werkzeug itself.
_DEFAULT_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "UNPROCESSABLE_ENTITY",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    problem: str


@dataclass
class ApiError(Exception):
    """An error answered as JSON in the documented shape."""

    status: int
    code: str
    message: str
    details: list[FieldProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # more top-level fields of the body

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def error_body(status: int, code: str, message: str, details: list[FieldProblem] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": HTTPStatus(status).phrase, "message": message, "code": code}
    if details:
        body["details"] = [{"field": d.field, "problem": d.problem} for d in details]
    return body


def json_error(status: int, code: str, message: str, details: list[FieldProblem] | None = None,
               headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Response:
    response = jsonify({**(extra or {}), **error_body(status, code, message, details)})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def wants_json() -> bool:
    path = request.path
    return path.startswith("/api/") or path in ("/healthz", "/readyz")


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # the session may be unusable when the database is gone
        log.debug("rollback failed", exc_info=True)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError) -> Response:
        _rollback()
        return json_error(error.status, error.code, error.message, error.details, error.headers, error.extra)

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException) -> Any:
        status = error.code or 500
        if wants_json():
            code = _DEFAULT_CODES.get(status, "HTTP_ERROR")
            response = json_error(status, code, error.description or HTTPStatus(status).phrase)
            for name, value in error.get_headers():
                if name.lower() not in ("content-type", "content-length"):
                    response.headers[name] = value
            return response
        return _html_error(status, form_expired=isinstance(error, CSRFError))

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Any:
        _rollback()
        if isinstance(error, OperationalError) or error.connection_invalidated:
            log.error("database unavailable: %s", error.orig.__class__.__name__ if error.orig else error)
            message = "The database is unavailable; retry later."
            if wants_json():
                return json_error(503, "DATABASE_UNAVAILABLE", message, headers={"Retry-After": "5"})
            return _html_error(503)
        return handle_unexpected(error)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Any:
        _rollback()
        log.error("unhandled error on %s %s", request.method, loggable_path(request.path), exc_info=withheld(error))
        if wants_json():
            return json_error(500, "INTERNAL_ERROR", "An unexpected error occurred.")
        return _html_error(500)


class WithheldError(Exception):
    """Stands in for an exception in the logs: its type and where it was raised, without
    its message, which can quote the data (PostgreSQL's DETAIL names a key's value or the
    whole failing row; a ValueError its input)."""


# Exceptions whose messages name code (attributes, types, names), never data.
_CODE_ERRORS = (AttributeError, ImportError, NameError, NotImplementedError, RecursionError, TypeError)


def withheld(error: BaseException) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    """``exc_info`` for logging ``error``: its traceback, and for its message only the
    exception's type (the SQLSTATE and the statement, with bound parameters, for a
    database error), unless it is a programming error. Chained exceptions are named by
    type only."""
    def name(exc: BaseException) -> str:
        return f"{type(exc).__module__}.{type(exc).__qualname__}"

    description = name(error)
    if isinstance(error, _CODE_ERRORS):
        description += f": {error}"
    elif not isinstance(error, DBAPIError):
        description += " (message withheld)"
    else:
        orig = error.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
        description += f" from {name(orig)}" if orig is not None else ""
        description += f" ({code})" if code else ""
        diag = getattr(orig, "diag", None)  # psycopg: names from the schema, never values
        for label in ("table_name", "column_name", "constraint_name"):
            if getattr(diag, label, None):
                description += f" {label.removesuffix('_name')} {getattr(diag, label)}"
        description += f" (message withheld) in: {' '.join(str(error.statement or '').split())[:500]}"
    cause = error.__cause__ or error.__context__
    if cause is not None and not (isinstance(error, DBAPIError) and cause is error.orig):
        description += f" (after {name(cause)})"
    return WithheldError, WithheldError(description), error.__traceback__


# The HTML error pages: what happened and what to do, in the reader's language.
_PAGES = {
    400: (_l("The request could not be understood"),
          _l("The page received something it cannot read. Go back, reload the page and try again.")),
    401: (_l("Log in first"), _l("This page is for logged-in users: log in, then open it again.")),
    403: (_l("Not allowed for your role"),
          _l("Your account cannot open this page or do this. Ask an administrator if you need it.")),
    404: (_l("Page not found"),
          _l("Nothing is at this address: the link may be mistyped or out of date, or what it showed was "
             "removed.")),
    405: (_l("This address cannot be opened this way"),
          _l("This address takes a form sent from the console, not a link or a typed address. Go back to the "
             "page and use its button.")),
    413: (_l("The file is too big"), _l("The file sent is larger than this page accepts.")),
    429: (_l("Too many attempts"),
          _l("Too many requests came from here in a short time. Wait a few minutes, then try again.")),
    500: (_l("Something went wrong on our side"),
          _l("The page could not be shown because of an error in the server. It has been recorded; try again "
             "in a moment, and tell the team if it keeps happening.")),
    503: (_l("The service is unavailable for a moment"),
          _l("The database cannot be reached right now. Wait a moment, then reload the page.")),
}
_FORM_EXPIRED = (_l("The form has expired"),
                 _l("The form was open too long, or was sent from another page, so it was not accepted and nothing "
                    "was changed. Reload the page and send it again."))
_GENERIC = (_l("The page cannot be shown"), _l("Go back and try again."))


def _html_error(status: int, *, form_expired: bool = False) -> tuple[str, int]:
    title, explanation = _FORM_EXPIRED if form_expired else _PAGES.get(status, _GENERIC)
    templates = [f"errors/{status}.html", "errors/generic.html"]
    return render_template(templates, status=status, title=title, explanation=explanation,
                           role_needed=g.get("role_needed") if status == 403 else None), status
