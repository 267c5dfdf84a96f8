"""Unit tests of plugins/filter/bundle_ops.py (controller identity, bake verdicts, durations)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

import bundle_ops as ops  # noqa: E402


def prom(*values):
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, v]} for v in values]}}


def test_bake_verdict_below_threshold_passes_and_above_fails():
    assert ops.bundle_bake_verdict(prom("0.002"), 0.01)["ok"] is True
    verdict = ops.bundle_bake_verdict(prom("0.002", "0.4"), 0.01)
    assert verdict["ok"] is False and verdict["value"] == 0.4


def test_bake_verdict_without_samples_fails_closed_unless_allowed():
    assert ops.bundle_bake_verdict(prom(), 0.01)["ok"] is False
    assert "inconclusive" in ops.bundle_bake_verdict(prom("NaN"), 0.01)["reason"]
    assert ops.bundle_bake_verdict(prom(), 0.01, allow_empty=True)["ok"] is True


def test_bake_verdict_on_query_error():
    verdict = ops.bundle_bake_verdict({"status": "error", "error": "parse error at char 4"}, 0.01)
    assert verdict["ok"] is False and "parse error" in verdict["reason"]


def test_controller_identity_and_pid_liveness():
    me = ops.bundle_controller()
    assert me["controller"] and me["operator"] and me["pid"] > 1
    assert ops.pid_alive(0) is False
    assert ops.pid_alive(2 ** 22 + 7) is False


def test_durations_and_phase_table():
    assert ops.bundle_duration("2026-12-01T10:00:00Z", "2026-12-01T10:01:05Z") == 65
    rows = ops.bundle_phase_table({"switch": {"start": "2026-12-01T10:02:00Z", "end": "2026-12-01T10:02:30Z"},
                                   "snapshot": {"start": "2026-12-01T10:00:00Z", "end": "2026-12-01T10:00:12Z"},
                                   "bake": {"start": "2026-12-01T10:03:00Z"}})
    assert rows == ["snapshot      12 s", "switch        30 s", "bake         (unfinished)"]


def test_lock_stale_uses_this_controller(monkeypatch):
    monkeypatch.setattr(ops.socket, "gethostname", lambda: "ops1")
    holder = {"controller": "ops1", "pid": 2 ** 22 + 7, "heartbeat": "2099-01-01T00:00:00Z"}
    assert "no longer exists" in ops.bundle_lock_stale(holder, 900)
    assert ops.bundle_lock_stale(dict(holder, pid=os.getpid(), controller="elsewhere"), 900) == ""


def test_port_clashes_name_both_variables():
    ports = [{"var": "monitoring_node_exporter_port", "port": 9100}, {"var": "app_port", "port": "9100"},
             {"var": "app_slot_ports.blue", "port": 8001}]
    assert ops.bundle_port_clashes(ports) == ["monitoring_node_exporter_port and app_port: 9100"]
    assert ops.bundle_port_clashes(ports[2:]) == []


def test_host_outcome_says_when_a_host_was_already_on_the_release():
    assert ops.bundle_host_outcome({"inventory_hostname": "app1", "deploy_host_state": "switched"}) == "app1 switched"
    kept = {"inventory_hostname": "app2", "deploy_host_state": "switched", "deploy_host_kept": True}
    assert ops.bundle_host_outcome(kept) == "app2 already on the release (not switched)"
    assert ops.bundle_host_outcome({"inventory_hostname": "app1", "deploy_host_state": "failed", "deploy_host_kept": True}) == "app1 failed"


def test_a_refused_run_has_one_shape():
    run = {"command": "deploy", "failed": False, "aborted": False, "locked": True}
    refused = ops.bundle_refused(run, "lock", "held by someone")
    assert refused == {**run, "aborted": True, "failed": True, "failed_phase": "lock", "failure": "held by someone"}
    assert run["aborted"] is False, "the record given is not changed"
    assert ops.bundle_refused(run, "ledger", None, release="src-1")["failure"] == "refused in ledger"
    assert ops.bundle_refused(run, "ledger", "bad", release="src-1")["release"] == "src-1"
    import pytest
    with pytest.raises(ValueError):
        ops.bundle_refused(run, " ", "why")
