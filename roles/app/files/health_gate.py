"""Health gate of one container, run on its app host in one command (app role, health.yml):
python3 -c "<this file>" UNIT URL TIMEOUT MAX_RESTARTS STABLE_SECONDS [CONTAINER]

Every half second: the unit's state and restart count (systemd), and the health URL when there is one.
Healthy: the URL answers 200 (or, without a URL, the unit has run STABLE_SECONDS without a restart), while
the unit is active. Fails at once when the unit restarted MAX_RESTARTS times since the gate began or went
failed/inactive, or when the container's gunicorn keeps losing workers (its log, from the journal, says a
worker exited with an error or was killed WORKER_CRASHES times: the master stays up, so systemd sees no
restart): a release that crashes on start is known in seconds, not after TIMEOUT.
Every duration is this host's own monotonic clock: no clock of another machine is compared.
Prints one JSON line {ok, reason, status, restarts, seconds}; exits 0 either way (the task decides).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable


def unit_state(unit: str) -> tuple[str, int]:
    out = subprocess.run(["systemctl", "show", "--property=ActiveState", "--property=NRestarts", unit],
                         capture_output=True, text=True).stdout
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return props.get("ActiveState", "unknown"), int(props.get("NRestarts") or 0)


WORKER_CRASH = re.compile(r"Worker \(pid:\d+\) (exited with code [1-9]|was sent SIG)|Worker failed to boot")
WORKER_CRASHES = 4


def worker_crashes(container: str, since: float) -> int:
    """gunicorn's lines about crashed workers in the container's journal since `since` (this host's clock)."""
    if not container:
        return 0
    out = subprocess.run(["journalctl", "--no-pager", "--output", "cat", "--since", f"@{since:.0f}", f"CONTAINER_NAME={container}"],
                         capture_output=True, text=True).stdout
    return len(WORKER_CRASH.findall(out))


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except Exception:  # noqa: BLE001 - nothing answers yet
        return 0


def gate(unit: str, url: str, timeout: float, max_restarts: int, stable: float,
         state: Callable[[str], tuple[str, int]] = unit_state, probe: Callable[[str], int] = http_status,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         crashes: Callable[[], int] = lambda: 0) -> dict[str, Any]:
    start = clock()
    _, restarts_at_start = state(unit)
    status, active_since = 0, None
    while True:
        now = clock()
        active, restarts = state(unit)
        restarts -= restarts_at_start
        result = {"status": status, "restarts": restarts, "seconds": round(now - start, 1)}
        if restarts >= max_restarts:
            return dict(result, ok=False, reason=f"the container keeps restarting ({restarts} restarts in {now - start:.0f} s)")
        if status != 200 and (lost := crashes()) >= WORKER_CRASHES:
            return dict(result, ok=False, reason=f"its workers keep crashing ({lost} crashed workers in {now - start:.0f} s)")
        if active in ("failed", "inactive") and now - start > 1:
            return dict(result, ok=False, reason=f"the container is not running (unit {active})")
        if active == "active":
            active_since = now if active_since is None else active_since
            if url:
                status = probe(url)
                result["status"] = status
                if status == 200:
                    return dict(result, ok=True, reason="answers 200")
            elif now - active_since >= stable:
                return dict(result, ok=True, reason=f"running for {stable:.0f} s without a restart")
        else:
            active_since = None
        if now - start >= timeout:
            return dict(result, ok=False, reason=f"not healthy within {timeout:.0f} s")
        sleep(0.5)


if __name__ == "__main__":
    name, target, limit, restarts_allowed, stable_for = sys.argv[1:6]
    watched, began = (sys.argv[6] if len(sys.argv) > 6 else ""), time.time() - 1
    print(json.dumps(gate(name, target, float(limit), int(restarts_allowed), float(stable_for),
                          crashes=lambda: worker_crashes(watched, began))))
