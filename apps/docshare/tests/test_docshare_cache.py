from __future__ import annotations

import time

from docshare.cache import GENERATION_KEY, NullCache, RedisListingCache
from docshare.jobqueue import RQJobQueue
from docshare.redis_conn import CircuitBreaker, web_client


class DictRedis:
    """The few Redis commands the cache uses."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.calls = 0

    def get(self, key: str) -> bytes | None:
        self.calls += 1
        return self.data.get(key)

    def set(self, key: str, value: bytes, ex: int | None = None) -> None:
        self.calls += 1
        self.data[key] = value

    def incr(self, key: str) -> int:
        self.calls += 1
        value = int(self.data.get(key, b"0")) + 1
        self.data[key] = str(value).encode()
        return value


def test_generation_invalidation() -> None:
    client = DictRedis()
    cache = RedisListingCache(client, ttl_seconds=30)  # type: ignore[arg-type]
    payload, token = cache.get()
    assert payload is None and token == "0"
    cache.put(token, b"v1")
    assert cache.get() == (b"v1", "0")
    cache.invalidate()
    assert client.data[GENERATION_KEY] == b"1"
    assert cache.get() == (None, "1")


def test_listing_computed_during_upload_is_never_served() -> None:
    client = DictRedis()
    cache = RedisListingCache(client)  # type: ignore[arg-type]
    _, token = cache.get()  # a reader starts computing the listing ...
    assert token is not None
    cache.invalidate()  # ... an upload commits and invalidates ...
    cache.put(token, b"stale")  # ... the reader stores its (stale) listing
    assert cache.get()[0] is None


def test_null_cache() -> None:
    cache = NullCache()
    cache.put("0", b"x")
    cache.invalidate()
    assert cache.get() == (None, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_circuit_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(cooldown=5, clock=clock)
    assert not breaker.open
    breaker.failure()
    assert breaker.open
    clock.now += 6
    assert not breaker.open
    breaker.failure()
    breaker.success()
    assert not breaker.open


def test_dead_redis_fails_fast_and_is_skipped_afterwards() -> None:
    # Port 1 on loopback: connection refused, no server needed.
    client = web_client("redis://127.0.0.1:1/0")
    breaker = CircuitBreaker(cooldown=60)
    cache = RedisListingCache(client, breaker=breaker)
    start = time.monotonic()
    assert cache.get() == (None, None)
    assert breaker.open
    assert cache.get() == (None, None)  # skipped: breaker open
    cache.put("0", b"x")
    cache.invalidate()  # always tried, error swallowed
    queue = RQJobQueue(client, breaker)
    assert queue.enqueue_processing(1) is False
    assert queue.length() is None
    assert time.monotonic() - start < 2.0


def test_web_client_has_short_timeouts() -> None:
    kwargs = web_client("redis://:pw@redis.example:6379/0").connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] <= 1
    assert kwargs["socket_connect_timeout"] <= 1
    assert kwargs["password"] == "pw"
