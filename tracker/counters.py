"""Windowed counters in the rate-limit store (Redis when `REDIS_URL` is set, so every worker
shares them; process memory otherwise), for limits that `ratelimit.limited` cannot say: counting
before knowing the outcome and refunding afterwards.

If Redis cannot be reached, counting goes on in this process's memory rather than failing the
request (as tracker/ratelimit.py's fallback does).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time

from limits.storage import MemoryStorage, Storage

from tracker.extensions import limiter

log = logging.getLogger(__name__)

_fallback = MemoryStorage()
# limits' memory store makes a key's lock when the key is first seen, and two threads seeing it
# at once can each make one (and lose a count): one lock for every in-process count instead.
_memory_lock = threading.Lock()


def counter_key(*parts: str) -> str:
    """A store key for `parts`; what a person typed is hashed (no names or numbers in Redis,
    no odd characters in keys)."""
    head, *rest = parts
    digest = hashlib.sha256("\x1f".join(rest).encode()).hexdigest()[:32]
    return f"tracker/{head}/{digest}"


def incr(key: str, window_seconds: int, amount: int = 1) -> int:
    """Add `amount` to the counter of `key` (atomic in the store) and return its new value; a
    new counter lives `window_seconds`."""
    storage = _storage()
    try:
        if isinstance(storage, MemoryStorage):
            with _memory_lock:
                return storage.incr(key, window_seconds, amount)
        return storage.incr(key, window_seconds, amount)
    except storage.base_exceptions:
        log.warning("rate-limit store unreachable: counting %s in process memory", key)
        with _memory_lock:
            return _fallback.incr(key, window_seconds, amount)


def seconds_left(key: str) -> int:
    """Seconds until the counter of `key` expires (at least 1)."""
    storage = _storage()
    try:
        expiry = storage.get_expiry(key)
    except storage.base_exceptions:
        expiry = _fallback.get_expiry(key)
    return max(1, int(expiry - time.time() + 0.999))


def _storage() -> Storage:
    return limiter.storage
