"""Health checks and their aggregation into the ``/health`` response."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self, duration_ms: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ok" if self.ok else "fail", **self.detail}
        if self.error:
            body["error"] = self.error
        if duration_ms is not None:
            body["duration_ms"] = round(duration_ms, 1)
        return body


Check = Callable[[], CheckResult]

# A small shared pool: checks run in parallel, and a check stuck on a hung mount cannot hold
# the request past the deadline.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


def run_check(check: Check) -> CheckResult:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - any failure is a failing check
        return CheckResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])


def run_checks(checks: Mapping[str, Check], deadline_seconds: float = 3.0) -> dict[str, dict[str, Any]]:
    start = time.monotonic()
    futures = {name: _POOL.submit(_timed, check) for name, check in checks.items()}
    results: dict[str, dict[str, Any]] = {}
    for name, future in futures.items():
        remaining = max(0.0, deadline_seconds - (time.monotonic() - start))
        try:
            result, duration = future.result(timeout=remaining)
            results[name] = result.to_dict(duration)
        except FutureTimeout:
            results[name] = CheckResult(ok=False, error=f"timed out after {deadline_seconds}s").to_dict()
    return results


def _timed(check: Check) -> tuple[CheckResult, float]:
    t0 = time.monotonic()
    result = run_check(check)
    return result, (time.monotonic() - t0) * 1000


def aggregate(results: Mapping[str, Mapping[str, Any]], release: str) -> tuple[int, dict[str, Any]]:
    """HTTP status and body: 200 when every check is ok, else 503."""
    ok = all(r.get("status") == "ok" for r in results.values())
    body = {"status": "ok" if ok else "fail", "checks": dict(results), "release": release}
    return (200 if ok else 503), body


def disk_check(free_bytes: Callable[[], int], min_free_bytes: int) -> Check:
    def check() -> CheckResult:
        free = free_bytes()
        detail = {"free_bytes": free, "min_free_bytes": min_free_bytes}
        if free < min_free_bytes:
            return CheckResult(ok=False, detail=detail, error="free space below DOCSHARE_MIN_FREE_BYTES")
        return CheckResult(ok=True, detail=detail)

    return check


def writable_check(probe: Callable[[], None], path: str) -> Check:
    def check() -> CheckResult:
        probe()
        return CheckResult(ok=True, detail={"path": path, "writable": True})

    return check


def ping_check(ping: Callable[[], Any]) -> Check:
    def check() -> CheckResult:
        ping()
        return CheckResult(ok=True)

    return check
