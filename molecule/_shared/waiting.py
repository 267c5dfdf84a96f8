"""Polling for the scenarios' tests: wait until something a host or Prometheus reports becomes true."""
from __future__ import annotations

import time
from typing import Any, Callable

import pytest


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120, every: float = 3) -> Any:
    """Poll `check` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
