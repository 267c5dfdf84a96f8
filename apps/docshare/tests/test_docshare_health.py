from __future__ import annotations

import threading

from docshare.health import CheckResult, aggregate, disk_check, ping_check, run_checks, writable_check


def ok() -> CheckResult:
    return CheckResult(ok=True)


def boom() -> CheckResult:
    raise ConnectionError("refused")


def test_all_ok_is_200() -> None:
    status, body = aggregate(run_checks({"database": ok, "redis": ok}), "r1")
    assert status == 200
    assert body["status"] == "ok"
    assert body["release"] == "r1"
    assert body["checks"]["database"]["status"] == "ok"
    assert "duration_ms" in body["checks"]["redis"]


def test_one_failure_is_503_and_named() -> None:
    status, body = aggregate(run_checks({"database": ok, "redis": boom}), "r1")
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "fail"
    assert "refused" in body["checks"]["redis"]["error"]


def test_hung_check_times_out() -> None:
    release = threading.Event()

    def hang() -> CheckResult:
        release.wait(5)
        return CheckResult(ok=True)

    try:
        results = run_checks({"documents": hang, "disk": ok}, deadline_seconds=0.2)
    finally:
        release.set()
    assert results["documents"]["status"] == "fail"
    assert "timed out" in results["documents"]["error"]
    assert results["disk"]["status"] == "ok"


def test_disk_check_threshold() -> None:
    assert disk_check(lambda: 200, 100)().ok
    low = disk_check(lambda: 50, 100)()
    assert not low.ok
    assert low.detail == {"free_bytes": 50, "min_free_bytes": 100}


def test_writable_and_ping_checks() -> None:
    assert writable_check(lambda: None, "/srv/documents")().detail["writable"] is True
    assert ping_check(lambda: True)().ok


def test_empty_checks_are_ok() -> None:
    assert aggregate({}, "r")[0] == 200
