"""Flask-Limiter's per-request work, only on the views that declare a limit.

Every limit of this app is declared on its view (``@limiter.limit``: the send API, the
public draw pages, Optimove's campaign webhook), and a decorated view checks its own
limits when it is called. The extension also registers three app-wide hooks: a
before-request check, which has nothing to check here (no default, application or
blueprint limits), the ``X-RateLimit-*`` headers after the request, and the reset of its
per-request state at teardown. Together they cost every request about a tenth of the
inbound webhook's CPU (bench/README.md), although the gateway's webhook is never
limited. :func:`limit_only_where_declared` drops the before-request check and runs the
other two only for the endpoints whose view carries a limit.

Flask-Limiter offers no switch for this, so it finds the extension's own hooks among the
app's (pinned Flask-Limiter 4.1.1); ``tests/web/test_rate_limit_scope.py`` fails if a
release changes them: the webhook must not reach the limiter, a limited view must still
answer 429 and its ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter

# Flask-Limiter marks the wrapper of a decorated view with this attribute (a weak proxy
# of the limiter that wraps it, hence ``==``); functools.wraps carries it through the
# decorators above it.
_LIMITED_MARK = "__wrapper-limiter-instance"


def limited_endpoints(app: Flask, limiter: Limiter) -> frozenset[str]:
    """The endpoints whose view is wrapped by ``limiter.limit``."""
    return frozenset(endpoint for endpoint, view in app.view_functions.items()
                     if getattr(view, _LIMITED_MARK, None) == limiter)


def limit_only_where_declared(app: Flask, limiter: Limiter) -> None:
    """Call after the blueprints are registered (the limited views must be known)."""
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or manager._blueprint_limits:
        return  # limits beyond the decorated views (RATELIMIT_DEFAULT...): the app-wide check is needed
    check = limiter._check_request_limit
    headers = next(hook for hook in app.after_request_funcs.get(None, [])
                   if isinstance(hook, partial) and hook.args == (limiter,))
    release = limiter._Limiter__release_context  # type: ignore[attr-defined]
    app.before_request_funcs[None].remove(check)
    app.after_request_funcs[None].remove(headers)
    app.teardown_request_funcs[None].remove(release)
    limited = limited_endpoints(app, limiter)

    def _rate_limit_headers(response: Response) -> Response:
        return headers(response) if request.endpoint in limited else response

    def _release_rate_limit_state(error: BaseException | None = None) -> Any:
        if request.endpoint in limited:
            release(error)

    app.after_request(_rate_limit_headers)
    app.teardown_request(_release_rate_limit_state)
