"""Filters of the operations playbooks (deploy, rollback, snapshot, maintenance), run on the controller.

bundle_controller:   who runs this playbook: {controller, controller_id, pid, operator} (pid = the ansible-playbook process)
bundle_lock_stale:   why a lock holder is gone ('' when it may still be working), from bundle_lock's answer
bundle_lock_holder:  one line describing a lock holder
bundle_bake_verdict: the verdict of one Prometheus instant query against a threshold
bundle_duration:     seconds between two ISO 8601 UTC times, or since one
bundle_phase_table:  phase durations as lines for a summary
bundle_run_active:   a run holds the lock and has neither failed nor been refused
bundle_port_clashes: ports claimed twice on one host, as readable lines
bundle_host_outcome: one app host's outcome for a summary ('stack-app1 switched', '... already on the release')
bundle_refused:      the run's record refused before any change, in one shape wherever a run is refused
bundle_release_id:   whether a value is a release id (module_utils/bundle_ledger.py RELEASE_PATTERN: the one definition)
"""
from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Mapping

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "module_utils"))
from bundle_ledger import RELEASE_RE, describe, parse_time, stale_reason  # noqa: E402  (shared with the modules)


def _proc_text(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1])
    except (OSError, IndexError, ValueError):
        return 0


def playbook_pid(start: int | None = None) -> int:
    """The ansible-playbook process this code runs under (a forked worker's parent, or itself)."""
    pid = start or os.getpid()
    seen = 0
    while pid > 1 and seen < 16:
        if "ansible-playbook" in _cmdline(pid):
            found = pid
            parent = _parent(pid)
            # Workers are forks of the main process and carry the same command line: climb to the top one.
            while parent > 1 and "ansible-playbook" in _cmdline(parent):
                found, parent = parent, _parent(parent)
            return found
        pid = _parent(pid)
        seen += 1
    return os.getppid()


def pid_alive(pid: int) -> bool:
    """True while an ansible-playbook process with this pid exists on this controller."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return "ansible" in _cmdline(pid)


def controller_id() -> str:
    """hostname:pid-namespace:boot-id: two containers or machines sharing a hostname differ (a pid means something only here)."""
    try:
        pid_namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        pid_namespace = ""
    return f"{socket.gethostname()}:{pid_namespace}:{_proc_text('/proc/sys/kernel/random/boot_id')}"


def bundle_controller(_: Any = None) -> dict[str, Any]:
    operator = os.environ.get("BUNDLE_OPERATOR") or os.environ.get("SUDO_USER") or getpass.getuser()
    return {"controller": socket.gethostname(), "controller_id": controller_id(), "pid": playbook_pid(), "operator": operator}


def bundle_lock_stale(lock: Mapping[str, Any] | None, stale_after: Any) -> str:
    """Why the lock's holder is gone ('' when it may still be working).

    lock: bundle_lock's answer (its holder judged by the state host's clock: age_seconds, stale), or a
    bare holder record, judged by age_seconds when it has one, else by this controller's clock.
    The pid check is ours: only where the holder ran (same controller_id) can its process be looked up.
    """
    lock = dict(lock or {})
    if lock.get("skipped"):
        return ""
    holder = dict(lock["holder"] or {}) if "holder" in lock else lock
    if lock.get("stale"):
        return str(lock["stale"])
    age = lock.get("age_seconds")
    return stale_reason(holder, float(stale_after), socket.gethostname(), pid_alive,
                        age=None if age is None else float(age), local_id=controller_id())


def bundle_lock_holder(holder: Mapping[str, Any] | None) -> str:
    return describe(dict(holder or {}))


def bundle_bake_verdict(response: Mapping[str, Any], threshold: Any, allow_empty: bool = False) -> dict[str, Any]:
    """Verdict of a Prometheus /api/v1/query answer: every sample must stay below threshold.

    An answer without samples is inconclusive: it fails unless allow_empty (fail closed).
    """
    limit = float(threshold)
    if not isinstance(response, Mapping) or response.get("status") != "success":
        error = response.get("error", "no answer") if isinstance(response, Mapping) else "no answer"
        return {"ok": False, "value": None, "reason": f"query failed: {error}"}
    result = (response.get("data") or {}).get("result") or []
    values: list[float] = []
    for sample in result:
        try:
            values.append(float(sample["value"][1]))
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    values = [v for v in values if v == v]  # NaN (0/0: no traffic in the window) counts as no sample
    if not values:
        return {"ok": bool(allow_empty), "value": None,
                "reason": "no samples (inconclusive)" + (", accepted (deploy_bake_allow_empty)" if allow_empty else ", fails closed")}
    worst = max(values)
    return {"ok": worst < limit, "value": worst, "reason": f"{worst:.4g} {'<' if worst < limit else '>='} {limit:g}"}


def bundle_duration(start: str, end: str = "") -> int:
    """Whole seconds from start to end (ISO 8601 UTC, as the ledger writes them); end defaults to now."""
    stop = parse_time(end) if end else time.time()
    return int(round(stop - parse_time(start)))


def bundle_phase_table(phases: Mapping[str, Mapping[str, str]]) -> list[str]:
    """['snapshot     12 s', ...] in the order the phases started."""
    rows = []
    for name, times in sorted(phases.items(), key=lambda kv: kv[1].get("start", "")):
        if times.get("start") and times.get("end"):
            rows.append(f"{name:<10} {bundle_duration(times['start'], times['end']):>5} s")
        elif times.get("start"):
            rows.append(f"{name:<10}   (unfinished)")
    return rows


def bundle_run_active(run: Mapping[str, Any] | None) -> bool:
    run = run or {}
    return bool(run.get("locked")) and not run.get("aborted") and not run.get("failed")


def bundle_port_clashes(ports: list[Mapping[str, Any]]) -> list[str]:
    """['app_port and monitoring_node_exporter_port: 9100'] for every port two variables claim."""
    by_port: dict[int, list[str]] = {}
    for entry in ports:
        by_port.setdefault(int(entry["port"]), []).append(str(entry["var"]))
    return [f"{' and '.join(names)}: {port}" for port, names in sorted(by_port.items()) if len(names) > 1]


def bundle_host_outcome(host: Mapping[str, Any]) -> str:
    """'<host> <deploy_host_state>' from a host's variables; a host the run found already on the release, worker
    too, healthy (deploy_host_kept), counts as switched for the revert but did not move: the summary says so."""
    state = str(host.get("deploy_host_state", "") or "unknown")
    if state == "switched" and host.get("deploy_host_kept"):
        state = "already on the release (not switched)"
    return f"{host.get('inventory_hostname', '?')} {state}"


def bundle_refused(run: Mapping[str, Any], phase: str, failure: Any, **fields: Any) -> dict[str, Any]:
    """deploy_run refused in `phase` before any host changed: aborted (nothing to revert; the release is not
    marked bad) and failed (the playbook exits non-zero), with why; `fields` add to the record (e.g. release)."""
    if not str(phase).strip():
        raise ValueError("bundle_refused: the phase that refused the run is required")
    return {**dict(run), "aborted": True, "failed": True, "failed_phase": str(phase),
            "failure": str(failure) if failure not in (None, "") else f"refused in {phase}", **fields}


def bundle_release_id(value: Any) -> bool:
    """True when value is a release id (the ledger's, the snapshots', the image tag's)."""
    return isinstance(value, str) and RELEASE_RE.match(value) is not None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bundle_controller": bundle_controller,
            "bundle_lock_stale": bundle_lock_stale,
            "bundle_lock_holder": bundle_lock_holder,
            "bundle_bake_verdict": bundle_bake_verdict,
            "bundle_duration": bundle_duration,
            "bundle_phase_table": bundle_phase_table,
            "bundle_run_active": bundle_run_active,
            "bundle_port_clashes": bundle_port_clashes,
            "bundle_host_outcome": bundle_host_outcome,
            "bundle_refused": bundle_refused,
            "bundle_release_id": bundle_release_id,
        }
