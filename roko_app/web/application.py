"""The Flask application class: Flask, with the sync check of its hooks done once and
route ids bounded to what the database holds."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from roko_app.web.validation import INT64_MAX


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in every route: a whole number that a database id can hold (0 to
    2**63 - 1). A larger one does not match, so it is a 404 like any unknown id, instead
    of an overflow in the database driver (a 500)."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 (werkzeug's names)
                 max: int | None = INT64_MAX, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


class Application(Flask):
    """Flask asks of every hook and view, at every request, whether it is a coroutine
    function (``ensure_sync``: a dozen ``inspect`` calls per request, a few per cent of
    the inbound webhook's CPU, bench/README.md). The answer never changes for a given
    function, so the plain ones are remembered (weakly: a hook that goes away is
    forgotten); an ``async def`` one still goes through Flask's own wrapping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url_map.converters["int"] = RowIdConverter
        self._known_sync: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if func in self._known_sync:
            return func
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            with contextlib.suppress(TypeError):  # not weakly referenceable: asked again next time
                self._known_sync.add(func)
        return wrapped
