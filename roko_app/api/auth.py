"""``x-api-key`` authentication for the internal API."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from roko_app.models import ApiKey
from roko_app.services import api_keys
from roko_app.web.errors import ApiError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def require_api_key(view: F) -> F:
    """Answer 401 unless the request carries an active key; sets ``g.api_key``."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        presented = request.headers.get("x-api-key")
        key = api_keys.authenticate(presented)
        if key is None:
            log.warning("api request rejected: %s key from %s", "missing" if not presented else "unknown or revoked",
                        request.remote_addr)
            raise ApiError(401, "INVALID_API_KEY", "Missing, unknown or revoked x-api-key.")
        g.api_key = key
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_api_key() -> ApiKey:
    return g.api_key


def api_key_identity() -> str:
    """The rate-limit bucket: one per API key (set by ``require_api_key``), named by a
    prefix of the key's hash so it never collides, even across databases."""
    return f"api-key:{g.api_key.key_hash[:16]}"
