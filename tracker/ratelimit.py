"""Rate limits in fixed windows, one Redis round trip per request; and the store of counts.

`limited(scope, limits)` decorates a view: each request counts in one bucket per client (its
address) and scope against `limits()`, fixed windows in the `limits` package's syntax ("30 per
minute;300 per hour"). The windows are hit shortest first; the first one past its amount refuses
the request (the longer ones are then not counted) with 429 and `Retry-After` = the seconds left
in that window (tracker.errors). This is what Flask-Limiter's fixed-window `shared_limit` did,
with the same keys, but Flask-Limiter spent ~0.5 ms of CPU per request (its hooks run on every
request) and made one round trip per window. Here, with Redis, one Lua script (`_FIXED_WINDOWS`,
registered once per process, called by EVALSHA) increments and checks every window: one round
trip per request. The public lookup (tracking/api.py, tracking/views.py) is limited so.

`RateLimitStore` (`tracker.extensions.limiter`) holds where counts live, which the item budgets
(tracking/budget.py) and the sign-in throttle (tracker/counters.py) share too:

- Redis (`RATELIMIT_STORAGE_URI` = `REDIS_URL`): shared by every worker and node.
- memory:// (no `REDIS_URL`): this process's memory.
- Redis unreachable: this process's memory, trying Redis again after 1, 2, 4 ... 32 seconds
  (`RATELIMIT_IN_MEMORY_FALLBACK_ENABLED`, as Flask-Limiter's in-memory fallback did); with the
  fallback off, the error propagates.
- `RATELIMIT_ENABLED=0` (development only): `limited` counts nothing.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage, storage_from_string
from werkzeug.exceptions import TooManyRequests

log = logging.getLogger(__name__)

# KEYS: the windows' keys, shortest window first; ARGV: amount and seconds of each window.
# Returns 0 when every window had room, else {the first window past its amount (1-based), the
# seconds left in it}.
_FIXED_WINDOWS = """
for i, key in ipairs(KEYS) do
    local count = redis.call('INCR', key)
    local seconds = tonumber(ARGV[2 * i])
    if count == 1 then
        redis.call('EXPIRE', key, seconds)
    end
    if count > tonumber(ARGV[2 * i - 1]) then
        local left = redis.call('TTL', key)
        if left < 0 then
            redis.call('EXPIRE', key, seconds)
            left = seconds
        end
        return {i, math.max(left, 1)}
    end
end
return 0
"""

_MAX_BACKOFF_SECONDS = 32


class _Windows:
    """One parsed limit string: each window's amount and length, and its key around a client."""

    def __init__(self, limits: str, scope: str) -> None:
        items: list[RateLimitItem] = sorted(parse_many(limits))
        self.described = [str(item) for item in items]
        # The storage's own key for client "\0", cut around it: a key is then two joins.
        self.key_parts = [item.key_for("\0", scope).split("\0") for item in items]
        self.argv: list[int] = []
        for item in items:
            self.argv += [item.amount, item.get_expiry()]

    def keys(self, storage: Storage, client: str) -> list[str]:
        if isinstance(storage, RedisStorage):
            return [storage.prefixed_key(head + client + tail) for head, tail in self.key_parts]
        return [head + client + tail for head, tail in self.key_parts]


@functools.lru_cache(maxsize=16)
def _windows(limits: str, scope: str) -> _Windows:
    return _Windows(limits, scope)


@functools.lru_cache(maxsize=4)
def _script(storage: RedisStorage) -> Any:
    """The script bound to the storage's client: EVALSHA, loaded (SCRIPT LOAD) on first need."""
    return storage.get_connection().register_script(_FIXED_WINDOWS)


class _Fallback:
    """Counting in this process while Redis cannot be reached, and when to try it again."""

    def __init__(self) -> None:
        self.storage = MemoryStorage()
        self.retry_at = 0.0
        self.failures = 0

    def down(self) -> bool:
        return time.monotonic() < self.retry_at

    def failed(self) -> None:
        if self.failures == 0:
            log.warning("rate-limit store unreachable: counting lookups in process memory")
        self.retry_at = time.monotonic() + min(2**self.failures, _MAX_BACKOFF_SECONDS)
        self.failures += 1

    def recovered(self) -> None:
        if self.failures:
            log.info("rate-limit store reachable again")
        self.failures = 0


@functools.lru_cache(maxsize=4)
def _fallback_for(storage: RedisStorage) -> _Fallback:
    return _Fallback()


class RateLimitStore:
    """Where rate-limit counts live (`RATELIMIT_STORAGE_URI`), and whether limits are on; an
    extension, initialised by `create_app`."""

    def __init__(self) -> None:
        self.storage: Storage = MemoryStorage()
        self.enabled = True
        self.fallback_enabled = True

    def init_app(self, app: Flask) -> None:
        self.storage = storage_from_string(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
        self.enabled = bool(app.config.get("RATELIMIT_ENABLED", True))
        self.fallback_enabled = bool(app.config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True))
        app.extensions["ratelimit"] = self

    def reset(self) -> None:
        """Forget every count (tests)."""
        self.storage.reset()


limiter = RateLimitStore()

# limits' memory store makes a key's lock when it first sees the key, and two threads seeing it
# at once can each make one (and lose a count): one lock around every in-process hit instead.
_memory_lock = threading.Lock()


def hit(limits: str, scope: str, client: str) -> tuple[int, str] | None:
    """Count one request of `client` in `scope`'s windows of `limits`; None when every window
    had room, else (seconds left, the refusing window as "3 per 1 minute")."""
    windows = _windows(limits, scope)
    storage = limiter.storage
    if not isinstance(storage, RedisStorage):
        return _hit_memory(storage, windows, client)
    fallback = _fallback_for(storage)
    if not fallback.down():
        try:
            refused = _hit_redis(storage, windows, client)
        except storage.base_exceptions:
            if not limiter.fallback_enabled:
                raise
            fallback.failed()
        else:
            fallback.recovered()
            return refused
    return _hit_memory(fallback.storage, windows, client)


def _hit_redis(storage: RedisStorage, windows: _Windows, client: str) -> tuple[int, str] | None:
    refused = _script(storage)(keys=windows.keys(storage, client), args=windows.argv)
    if refused == 0:
        return None
    window, left = refused
    return int(left), windows.described[int(window) - 1]


def _hit_memory(storage: Storage, windows: _Windows, client: str) -> tuple[int, str] | None:
    keys = windows.keys(storage, client)
    with _memory_lock:
        for index, key in enumerate(keys):
            amount, seconds = windows.argv[2 * index], windows.argv[2 * index + 1]
            if storage.incr(key, seconds) > amount:
                left = max(1, math.ceil(storage.get_expiry(key) - time.time()))
                return left, windows.described[index]
    return None


def limited(
    scope: str, limits: Callable[[], str], exempt_when: Callable[[], bool] | None = None
) -> Callable:
    """Decorate a view: each request (unless `exempt_when()`) counts in `scope`'s windows of
    `limits()` for its client (its address; behind TRUSTED_PROXIES the forwarded one) before
    anything else of the view runs (a request refused for bad arguments still counts); past
    the limit the view answers 429 (tracker.errors)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def limited_view(*args: Any, **kwargs: Any) -> Any:
            if limiter.enabled and not (exempt_when and exempt_when()):
                refused = hit(limits(), scope, request.remote_addr or "127.0.0.1")
                if refused is not None:
                    left, described = refused
                    raise TooManyRequests(description=described, retry_after=left)
            return view(*args, **kwargs)

        return limited_view

    return decorate
