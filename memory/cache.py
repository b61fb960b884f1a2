"""Configuration cache: Redis when MIXBRIDGE_REDIS_URL is set, an in-process TTL cache otherwise.

If a configured Redis goes away, reads and writes fall through to the database
(the caller's loader) and the log says so once; it is tried again later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class TTLCache:
    """A thread-safe in-process cache whose entries expire after ``ttl`` seconds."""

    backend = "memory"

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, max_entries: int = 10_000) -> None:
        self.ttl, self.clock, self.max_entries = ttl, clock, max_entries
        self._data: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            if hit[0] <= self.clock():
                del self._data[key]
                return None
            return hit[1]

    def set(self, key: str, value: str) -> None:
        with self._lock:
            if len(self._data) >= self.max_entries:
                self._data.pop(next(iter(self._data)))
            self._data[key] = (self.clock() + self.ttl, value)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisCache:
    """Redis with a TTL; any Redis failure reads as a miss and is logged once."""

    backend = "redis"
    RETRY_S = 5.0

    def __init__(self, url: str, ttl: float, prefix: str = "mixbridge:") -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl, self.prefix = int(max(1, ttl)), prefix
        self._down_since: float | None = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        if self._down_since is not None and time.monotonic() - self._down_since < self.RETRY_S:
            return None
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 - redis raises many kinds; all mean "use the database"
            if self._down_since is None:
                log.warning("Redis cache unavailable (%s); answering from the database", e)
            self._down_since = time.monotonic()
            return None
        if self._down_since is not None:
            log.warning("Redis cache is back")
            self._down_since = None
        return result

    @property
    def available(self) -> bool:
        return self._down_since is None

    def get(self, key: str) -> str | None:
        raw = self._call(lambda: self.client.get(self.prefix + key))
        return raw.decode() if isinstance(raw, bytes) else raw

    def set(self, key: str, value: str) -> None:
        self._call(lambda: self.client.set(self.prefix + key, value, ex=self.ttl))

    def delete(self, key: str) -> None:
        self._call(lambda: self.client.delete(self.prefix + key))


class Cached:
    """Read-through JSON cache in front of a loader, with hit/miss counters."""

    def __init__(self, store: TTLCache | RedisCache) -> None:
        self.store = store
        self.hits = self.misses = 0

    def get(self, key: str, load: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
        raw = self.store.get(key)
        if raw is not None:
            self.hits += 1
            return dict(json.loads(raw))
        self.misses += 1
        value = load()
        if value is not None:
            self.store.set(key, json.dumps(value, default=str))
        return value

    def invalidate(self, key: str) -> None:
        self.store.delete(key)
