"""Monitoring scenario: the client asks Prometheus' HTTP API over the network what it sees.

Hosts: monitoring-prom (Prometheus, blackbox exporter), monitoring-target (node exporter, Redis +
its exporter, a stand-in app with /health and /metrics, a shared directory checked for
writability), monitoring-client (node exporter; runs the queries). The scenario turns the optional Alertmanager on. Alerts use the scenario's short
intervals (5s scrape/evaluation, `for: 10s`), so every wait below is bounded and short.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))
from waiting import wait_for  # noqa: E402  (molecule/_shared/waiting.py, shared with the other scenarios)

testinfra_hosts = ["monitoring-client"]

PROMETHEUS = "http://monitoring-prom:9090"
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
EXPECTED_TARGETS = {
    ("prometheus", "monitoring-prom"),
    ("node", "monitoring-prom"),
    ("node", "monitoring-target"),
    ("node", "monitoring-client"),
    ("redis", "monitoring-target"),
    ("app", "monitoring-target"),
    ("probe_app_health", "monitoring-target"),
    ("probe_public", "http://monitoring-target:8000/"),
    ("probe_tcp_redis", "monitoring-target"),
}
PROBE_JOBS = {"probe_app_health", "probe_public", "probe_tcp_redis"}
ALERTS = {
    "TargetDown", "HealthProbeFailing", "RedisDown", "PostgresDown", "NfsUnreachable", "Http5xxRatioHigh",
    "LatencyP95High", "DiskAlmostFull", "RedisMemoryNearMax", "SharedVolumeNotWritable", "SnapshotTooOld",
    "DeployFailed", "MaintenanceJobFailed", "MaintenanceJobOverdue", "SnapshotNotRestorable",
}


def _other(host: Any, name: str) -> Any:
    return host.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def prom(host: Any) -> Any:
    return _other(host, "monitoring-prom")


@pytest.fixture(scope="module")
def target(host: Any) -> Any:
    return _other(host, "monitoring-target")


def api(client: Any, path: str, **params: str) -> Any:
    """GET a Prometheus API path from the client host; returns `data` of a successful answer."""
    url = PROMETHEUS + path + ("?" + urlencode(params) if params else "")
    answer = json.loads(client.check_output(f"python3 -c {shlex.quote(FETCH)} {shlex.quote(url)}"))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(client: Any, promql: str) -> list[dict[str, Any]]:
    return api(client, "/api/v1/query", query=promql)["result"]


def active_alerts(client: Any, name: str, instance: str) -> list[dict[str, Any]]:
    return [a for a in api(client, "/api/v1/alerts")["alerts"]
            if a["labels"].get("alertname") == name and a["labels"].get("instance") == instance
            and a["state"] in ("pending", "firing")]


def test_prometheus_listens_on_private_address_only(prom: Any) -> None:
    address = prom.ansible("setup", "gather_subset=network")["ansible_facts"]["ansible_default_ipv4"]["address"]
    listeners = prom.check_output("ss -Htln")
    assert f"{address}:9090 " in listeners
    assert "0.0.0.0:9090" not in listeners and "*:9090" not in listeners
    args = prom.file("/etc/default/prometheus").content_string
    assert "--storage.tsdb.retention.time=1d" in args and "--storage.tsdb.retention.size=256MB" in args


def test_every_expected_target_is_up(host: Any) -> None:
    def targets() -> set[tuple[str, str]] | None:
        active = api(host, "/api/v1/targets", state="active")["activeTargets"]
        found = {(t["labels"]["job"], t["labels"]["instance"]) for t in active}
        assert found == EXPECTED_TARGETS, f"jobs from groups differ: {found ^ EXPECTED_TARGETS}"
        down = [t for t in active if t["health"] != "up"]
        return None if down else found

    wait_for("every target up", targets)
    up = {(r["metric"]["job"], r["metric"]["instance"]): r["value"][1] for r in query(host, "up")}
    assert {k: v for k, v in up.items() if k in EXPECTED_TARGETS} == {k: "1" for k in EXPECTED_TARGETS}


def test_blackbox_probes_succeed(host: Any) -> None:
    def probes() -> dict[str, str] | None:
        result = {r["metric"]["job"]: r["value"][1] for r in query(host, "probe_success")}
        return result if set(result) == PROBE_JOBS and set(result.values()) == {"1"} else None

    wait_for("probe_success == 1 for every probe job", probes)


def test_rule_groups_are_loaded(host: Any) -> None:
    groups = api(host, "/api/v1/rules")["groups"]
    assert {g["name"] for g in groups} == {"bundle-availability", "bundle-performance", "bundle-operations"}
    rules = [r for g in groups for r in g["rules"]]
    assert {r["name"] for r in rules} == ALERTS
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    assert all(r["annotations"].get("summary") and r["annotations"].get("runbook") for r in rules)
    redis_down = next(r for r in rules if r["name"] == "RedisDown")
    assert redis_down["duration"] == 10  # the scenario's monitoring_alert_service_down_for: 10s


def test_promtool_rule_tests_pass(prom: Any) -> None:
    result = prom.run("promtool test rules /etc/prometheus/rules/tests/bundle.test.yml")
    assert result.rc == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
    assert prom.run("promtool check config /etc/prometheus/prometheus.yml").rc == 0


def test_textfile_metrics_reach_prometheus(host: Any, target: Any) -> None:
    content = target.file("/var/lib/prometheus/node-exporter/deploy.prom").content_string
    assert 'bundle_deploy_last_timestamp_seconds{release="r1",result="success"} 1700000000' in content

    def deploy() -> list[dict[str, Any]]:
        return query(host, 'bundle_deploy_last_timestamp_seconds{instance="monitoring-target",release="r1",result="success"}')

    assert wait_for("the deploy metric in Prometheus", deploy)[0]["value"][1] == "1700000000"
    assert wait_for("the shared volume metric",
                    lambda: query(host, 'bundle_shared_volume_writable{instance="monitoring-target",path="/srv/shared"} == 1'))


def alertmanager_has(prom: Any, name: str) -> bool:
    """Alertmanager listens on the monitor host's loopback only: ask it from there."""
    alerts = json.loads(prom.check_output(f"python3 -c {shlex.quote(FETCH)} http://127.0.0.1:9093/api/v2/alerts"))
    return any(a["labels"].get("alertname") == name for a in alerts)


def test_alertmanager_is_local_and_prometheus_sends_to_it(host: Any, prom: Any) -> None:
    listeners = prom.check_output("ss -Htln")
    assert "127.0.0.1:9093 " in listeners and "0.0.0.0:9093" not in listeners
    status = json.loads(prom.check_output(f"python3 -c {shlex.quote(FETCH)} http://127.0.0.1:9093/api/v2/status"))
    assert "lab-null" in status["config"]["original"]
    wait_for("Alertmanager discovered by Prometheus",
             lambda: api(host, "/api/v1/alertmanagers")["activeAlertmanagers"])


def test_stopping_redis_raises_redis_down(host: Any, prom: Any, target: Any) -> None:
    assert not active_alerts(host, "RedisDown", "monitoring-target")
    target.check_output("systemctl stop redis-server")
    try:
        alerts = wait_for("RedisDown pending or firing", lambda: active_alerts(host, "RedisDown", "monitoring-target"))
        assert alerts[0]["labels"]["severity"] == "critical"
        wait_for("RedisDown firing after its 10s", lambda: [a for a in active_alerts(host, "RedisDown", "monitoring-target")
                                                           if a["state"] == "firing"])
        wait_for("RedisDown delivered to Alertmanager", lambda: alertmanager_has(prom, "RedisDown"))
    finally:
        target.check_output("systemctl start redis-server")
    wait_for("redis_up back to 1", lambda: query(host, 'redis_up{instance="monitoring-target"} == 1'))
    wait_for("probe of Redis back to 1", lambda: query(host, 'probe_success{job="probe_tcp_redis"} == 1'))


def test_unhealthy_json_fails_the_health_probe(host: Any, target: Any) -> None:
    """/health answers 200 but with "status": "fail" (nested checks still "ok"): the body regexp rejects it."""
    target.check_output("echo fail > /run/fake-app-status")
    try:
        wait_for("probe_app_health failing", lambda: query(host, 'probe_success{job="probe_app_health"} == 0'))
        wait_for("HealthProbeFailing pending or firing",
                 lambda: active_alerts(host, "HealthProbeFailing", "monitoring-target"))
    finally:
        target.check_output("rm -f /run/fake-app-status")
    wait_for("probe_app_health back to 1", lambda: query(host, 'probe_success{job="probe_app_health"} == 1'))


def test_unwritable_shared_volume_raises_alert(host: Any, target: Any) -> None:
    target.check_output("chmod 0555 /srv/shared && systemctl start bundle-writable-check.service")
    try:
        wait_for("SharedVolumeNotWritable pending or firing",
                 lambda: active_alerts(host, "SharedVolumeNotWritable", "monitoring-target"))
    finally:
        target.check_output("chmod 0755 /srv/shared && systemctl start bundle-writable-check.service")
    wait_for("shared volume writable again",
             lambda: query(host, 'bundle_shared_volume_writable{instance="monitoring-target"} == 1'))
