"""Redis clients with short timeouts and no retries, so a dead Redis never hangs a request."""

from __future__ import annotations

import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

WEB_TIMEOUT_SECONDS = 0.5


def web_client(url: str, timeout: float = WEB_TIMEOUT_SECONDS) -> redis.Redis:
    """Client for request paths: sub-second connect/read timeouts, no retry."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def worker_client(url: str) -> redis.Redis:
    """Client for the RQ worker: blocking dequeues need a read timeout above RQ's dequeue timeout."""
    return redis.Redis.from_url(url, socket_connect_timeout=5, socket_keepalive=True, health_check_interval=30)


class CircuitBreaker:
    """After a failure, skip the dependency for ``cooldown`` seconds instead of timing out again."""

    def __init__(self, cooldown: float = 5.0, clock: Any = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._open_until = 0.0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return bool(self._clock() < self._open_until)

    def failure(self) -> None:
        with self._lock:
            self._open_until = self._clock() + self.cooldown

    def success(self) -> None:
        with self._lock:
            self._open_until = 0.0
