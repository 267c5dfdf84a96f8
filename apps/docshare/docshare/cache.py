"""The cached document listing.

Readers look up a generation number, then the listing stored under that generation; an upload
bumps the generation (after its row is committed), so a listing computed concurrently with an
upload is written under a generation nobody reads any more. Every Redis error is swallowed:
without Redis the listing is simply computed from the database each time.
"""

from __future__ import annotations

import logging
from typing import Protocol

import redis

from .redis_conn import CircuitBreaker

log = logging.getLogger(__name__)

GENERATION_KEY = "docshare:listing:generation"
LISTING_KEY = "docshare:listing:{generation}"


class ListingCache(Protocol):
    def get(self) -> tuple[bytes | None, str | None]:
        """Return (cached payload or None, token to pass to :meth:`put`; None = do not store)."""
        ...

    def put(self, token: str, payload: bytes) -> None: ...

    def invalidate(self) -> None: ...


class NullCache:
    def get(self) -> tuple[bytes | None, str | None]:
        return None, None

    def put(self, token: str, payload: bytes) -> None:
        return None

    def invalidate(self) -> None:
        return None


class RedisListingCache:
    def __init__(self, client: redis.Redis, ttl_seconds: int = 30, breaker: CircuitBreaker | None = None) -> None:
        self.client = client
        self.ttl = max(1, ttl_seconds)
        self.breaker = breaker or CircuitBreaker()

    def _guard(self, what: str, exc: Exception) -> None:
        self.breaker.failure()
        log.warning("redis %s failed, serving uncached: %s", what, exc)

    def get(self) -> tuple[bytes | None, str | None]:
        if self.breaker.open:
            return None, None
        try:
            raw = self.client.get(GENERATION_KEY)
            generation = raw.decode() if isinstance(raw, bytes) else str(raw or "0")
            value = self.client.get(LISTING_KEY.format(generation=generation))
            self.breaker.success()
            return (value if isinstance(value, bytes) else None), generation
        except (redis.RedisError, OSError) as exc:
            self._guard("get", exc)
            return None, None

    def put(self, token: str, payload: bytes) -> None:
        if self.breaker.open:
            return
        try:
            self.client.set(LISTING_KEY.format(generation=token), payload, ex=self.ttl)
        except (redis.RedisError, OSError) as exc:
            self._guard("set", exc)

    def invalidate(self) -> None:
        # Not skipped when the breaker is open: a missed invalidation would serve a stale
        # listing until the TTL expires, so always try (one short timeout at most).
        try:
            self.client.incr(GENERATION_KEY)
            self.breaker.success()
        except (redis.RedisError, OSError) as exc:
            self._guard("invalidate", exc)
