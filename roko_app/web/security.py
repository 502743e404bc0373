"""Browser-facing security: headers on every response, cookies, CSRF, safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from roko_app.configuration import ConfigError

# Scripts and styles only from our own origin: no inline script, no CDN.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The operators' pages (farmers' numbers, messages, the session): never kept by a browser's
# cache or history, nor by a proxy.
PRIVATE_BLUEPRINTS = frozenset({"console", "auth", "i18n"})


def register_security_headers(app: Flask) -> None:
    defaults = [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if app.config["SESSION_COOKIE_SECURE"]:
        defaults.append(("Strict-Transport-Security", "max-age=31536000"))

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # Each header unless the view set its own; one pass over the response's headers
        # (this runs on every request, the gateway's included).
        present = {name.lower() for name, _value in headers}
        headers.extend([(name, value) for name, value in defaults if name.lower() not in present])
        if request.blueprint in PRIVATE_BLUEPRINTS or request.path.startswith("/console"):
            headers["Cache-Control"] = "no-store"
            headers["Pragma"] = "no-cache"
        return response


def trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXIES`` proxies, take the client's address and scheme from the
    headers they set (only the last N hops: a client cannot forge its way past them)."""
    hops = int(app.config["TRUSTED_PROXIES"])
    if hops < 0:
        raise ConfigError("ROKO_TRUSTED_PROXIES must be 0 or more (the number of proxies in front of the app).")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def configure_cookies(app: Flask) -> None:
    """HttpOnly and SameSite=Lax always; Secure outside dev and test (HTTPS there)."""
    secure = app.config["ENV"] not in ("dev", "test")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config.get("SESSION_COOKIE_SECURE") or secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=app.config.get("REMEMBER_COOKIE_SECURE") or secure,
    )


class CookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except under ``stateless_prefixes``: the machine-facing
    blueprints (the gateway's webhooks, the send API) authenticate every request by token,
    key or signature and never use a session, so they get a null session instead of
    reading, verifying and re-signing a cookie on each request."""

    def __init__(self, stateless_prefixes: tuple[str, ...]) -> None:
        self.stateless_prefixes = tuple(prefix.rstrip("/") + "/" for prefix in stateless_prefixes)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(self.stateless_prefixes):
            return None  # Flask then uses make_null_session: readable, empty, never saved
        return super().open_session(app, request)


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target
