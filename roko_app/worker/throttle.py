"""Pacing sends per SIM port, in this process or shared by every process through Redis (``docs/worker.md``)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: A sender this far behind its throttle schedule may catch up (send late slots at once).
PACER_CATCH_UP_SECONDS = 0.25


class ThrottleUnavailable(RuntimeError):
    """The shared throttle (Redis) cannot be reached: do not send rather than exceed the rate."""


class Pacer(Protocol):
    """Spaces sends per SIM port."""

    rate: float
    shared: bool

    def reserve(self, port: int) -> float:
        """Reserve the next send slot of ``port``; seconds to wait before sending."""
        ...


class LocalPacer:
    """Per-process pacing: slots ``1 / rate`` apart per port.

    A sender up to ``PACER_CATCH_UP_SECONDS`` behind its schedule (a GC pause, a slow
    commit) gets its late slots at once and so catches up; further behind (idle, a long
    stall) the schedule restarts from now, so idle time builds no burst. ``clock`` is
    injectable (a monotonic clock in seconds) for tests.
    """

    shared = False

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"TOPAZ_RATE_PER_PORT must be a number >= 0, not {rate!r}")
        self.rate = float(rate)
        self._interval = 1.0 / rate if rate else 0.0
        self._clock = clock
        self._next: dict[int, float] = {}
        self._lock = threading.Lock()  # shared by the sending threads of a process

    def reserve(self, port: int) -> float:
        if not self.rate:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = self._next.get(port, now)
            if slot < now - PACER_CATCH_UP_SECONDS:
                slot = now
            self._next[port] = slot + self._interval
        return max(slot - now, 0.0)


# KEYS[1]: the port's key; ARGV[1]: interval, ARGV[2]: catch-up, in microseconds. The
# same rule as LocalPacer on Redis's own clock, so workers on hosts with skewed clocks
# share one schedule. Values are integers of microseconds (exact in Lua's doubles;
# "%.0f" keeps them out of exponent notation).
_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now - tonumber(ARGV[2]) then slot = now end
local ttl_ms = math.max(math.ceil((slot + interval - now) / 1000), 0) + 60000
redis.call('SET', KEYS[1], string.format('%.0f', slot + interval), 'PX', ttl_ms)
if slot < now then return 0 end
return slot - now
"""


class RedisPacer:
    """Pacing shared by every process using the same Redis: one schedule per port."""

    shared = True

    def __init__(self, rate: float, url: str, key_prefix: str = "roko") -> None:
        import redis

        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"TOPAZ_RATE_PER_PORT must be a number >= 0, not {rate!r}")
        self.rate = float(rate)
        self._interval_us = round(1_000_000 / rate) if rate else 0
        self._prefix = f"{key_prefix}:outbox-pace"
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._script = self._redis.register_script(_RESERVE_SCRIPT)
        self._errors = redis.RedisError

    def reserve(self, port: int) -> float:
        if not self.rate:
            return 0.0
        try:
            wait_us = self._script(keys=[f"{self._prefix}:{port}"],
                                   args=[self._interval_us, round(PACER_CATCH_UP_SECONDS * 1_000_000)])
        except self._errors as exc:
            raise ThrottleUnavailable(f"the throttle's Redis is unavailable: {type(exc).__name__}") from exc
        return int(wait_us) / 1_000_000  # type: ignore[arg-type]


def pacer_from_config(config: Mapping[str, Any], rate: float | None = None) -> Pacer:
    """The pacer ``RATELIMIT_STORAGE_URI`` calls for (Redis: shared; else per process)."""
    rate = float(config["TOPAZ_RATE_PER_PORT"]) if rate is None else rate
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if rate and storage.startswith(("redis://", "rediss://")):
        return RedisPacer(rate, storage, str(config.get("RATELIMIT_KEY_PREFIX") or "roko"))
    if rate and not storage.startswith("memory://"):
        log.warning("throttle: storage %s is not supported for pacing; the rate applies per worker process",
                    storage.split("://", 1)[0])
    return LocalPacer(rate)
