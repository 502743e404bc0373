"""The Flask application class: Flask, with the sync check of its hooks done once."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask


class Application(Flask):
    """Flask asks of every hook and view, at every request, whether it is a coroutine
    function (``ensure_sync``: a dozen ``inspect`` calls per request, a few per cent of
    the inbound webhook's CPU, bench/README.md). The answer never changes for a given
    function, so the plain ones are remembered (weakly: a hook that goes away is
    forgotten); an ``async def`` one still goes through Flask's own wrapping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_sync: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func in self._known_sync:
            return func
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            with contextlib.suppress(TypeError):  # not weakly referenceable: asked again next time
                self._known_sync.add(func)
        return wrapped
