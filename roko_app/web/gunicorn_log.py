"""gunicorn's own log, held to the app's rule: no phone number in a log line.

gunicorn answers a malformed request itself, before Flask runs, and logs why at WARNING
with the offending request line or header as the client sent it ("Invalid request from
ip=...: Invalid HTTP request line: 'GET /console/farmers/612345678?x=... HTTP/1.1'").
``gunicorn.conf.py`` names :class:`Logger`, which masks numbers in that quoted part the
way the access log masks paths (gunicorn already writes it with ``repr``, so control
characters arrive escaped).
"""

from __future__ import annotations

from typing import Any

from gunicorn import glogging

from roko_app.web.request_log import loggable_path

_CLIENT_ERROR = "Invalid request from ip="


def loggable_client_error(message: str) -> str:
    """``message`` with numbers masked after the client's address, which stays readable."""
    if not message.startswith(_CLIENT_ERROR):
        return message
    address, separator, error = message[len(_CLIENT_ERROR):].partition(": ")
    return f"{_CLIENT_ERROR}{address}{separator}{loggable_path(error)}"


class Logger(glogging.Logger):  # type: ignore[misc]  # gunicorn has no type hints
    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().warning(loggable_client_error(msg) if isinstance(msg, str) else msg, *args, **kwargs)
