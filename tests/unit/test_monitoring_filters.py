"""Unit tests of the monitoring role's filter plugins (plugins/filter/monitoring_*.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

import monitoring_rules  # noqa: E402
import monitoring_scrape  # noqa: E402
import monitoring_textfile  # noqa: E402

HOSTVARS = {
    "web1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.1"}}},
    "web2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.2"}}},
    "db1": {"ansible_facts": {}},
}
GROUPS = {"all": ["web1", "web2"], "app": ["web1", "web2"], "redis": [], "db": ["db1"]}


def test_duration_seconds() -> None:
    assert monitoring_scrape.duration_seconds("90s") == 90
    assert monitoring_scrape.duration_seconds("5m") == 300
    assert monitoring_scrape.duration_seconds("26h") == 93600
    assert monitoring_scrape.duration_seconds("250ms") == pytest.approx(0.25)
    for bad in ("5", "1h30m", "-1s", "5 m", ""):
        with pytest.raises(AnsibleFilterError):
            monitoring_scrape.duration_seconds(bad)


def test_scrape_job_from_group_uses_private_addresses_and_host_names() -> None:
    jobs = [{"job": "node", "kind": "scrape", "group": "all", "targets": None, "port": 9100}]
    [config] = monitoring_scrape.scrape_configs(jobs, GROUPS, HOSTVARS, "127.0.0.1:9115")
    assert config["job_name"] == "node" and config["metrics_path"] == "/metrics"
    assert config["static_configs"] == [
        {"targets": ["10.0.0.1:9100"], "labels": {"instance": "web1"}},
        {"targets": ["10.0.0.2:9100"], "labels": {"instance": "web2"}},
    ]


def test_absent_or_empty_group_yields_no_job() -> None:
    jobs = [
        {"job": "redis", "kind": "scrape", "group": "redis", "targets": None, "port": 9121},
        {"job": "nginx", "kind": "scrape", "group": "proxy", "targets": None, "port": 9113},
        {"job": "probe_public", "kind": "url_probe", "module": "http_public", "urls": []},
    ]
    assert monitoring_scrape.scrape_configs(jobs, GROUPS, HOSTVARS, "127.0.0.1:9115") == []


def test_explicit_targets_replace_the_group_and_may_be_outside_inventory() -> None:
    jobs = [{"job": "redis", "kind": "scrape", "group": "redis", "targets": ["web2", "cache.example.org"], "port": 9121}]
    [config] = monitoring_scrape.scrape_configs(jobs, GROUPS, HOSTVARS, "127.0.0.1:9115")
    assert [c["targets"][0] for c in config["static_configs"]] == ["10.0.0.2:9121", "cache.example.org:9121"]


def test_http_and_tcp_probes_go_through_blackbox() -> None:
    jobs = [
        {"job": "probe_app_health", "kind": "http_probe", "module": "http_health", "group": "app", "targets": None,
         "port": 8000, "path": "/health"},
        {"job": "probe_tcp_redis", "kind": "tcp_probe", "module": "tcp_connect", "group": "app", "targets": None, "port": 6379},
        {"job": "probe_public", "kind": "url_probe", "module": "http_public", "urls": ["https://app.example.org/"]},
    ]
    health, tcp, public = monitoring_scrape.scrape_configs(jobs, GROUPS, HOSTVARS, "127.0.0.1:9115")
    assert health["metrics_path"] == "/probe" and health["params"] == {"module": ["http_health"]}
    assert health["static_configs"][0]["targets"] == ["http://10.0.0.1:8000/health"]
    assert {"target_label": "__address__", "replacement": "127.0.0.1:9115"} in health["relabel_configs"]
    assert tcp["static_configs"][1]["targets"] == ["10.0.0.2:6379"]
    assert public["static_configs"] == [{"targets": ["https://app.example.org/"], "labels": {"instance": "https://app.example.org/"}}]


def test_missing_facts_are_reported_and_refused() -> None:
    jobs = [{"job": "postgres", "kind": "scrape", "group": "db", "targets": None, "port": 9187}]
    assert monitoring_scrape.hosts_missing_facts(jobs, GROUPS, HOSTVARS) == ["db1"]
    with pytest.raises(AnsibleFilterError, match="db1"):
        monitoring_scrape.scrape_configs(jobs, GROUPS, HOSTVARS, "127.0.0.1:9115")


def test_unknown_job_kind_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="kind"):
        monitoring_scrape.scrape_configs([{"job": "x", "kind": "push"}], GROUPS, HOSTVARS, "127.0.0.1:9115")


def test_textfile_renders_help_type_and_escaped_labels() -> None:
    text = monitoring_textfile.textfile([
        {"name": "bundle_deploy_last_timestamp_seconds", "help": "Last deploy.", "labels": {"result": "success", "release": 'r"1'},
         "value": 1700000000},
        {"name": "bundle_maintenance_last_success", "labels": {"maintenance_job": "vacuum"}, "value": True},
        {"name": "bundle_maintenance_last_success", "labels": {"maintenance_job": "prune"}, "value": 0.5},
    ])
    assert text == (
        "# HELP bundle_deploy_last_timestamp_seconds Last deploy.\n"
        "# TYPE bundle_deploy_last_timestamp_seconds gauge\n"
        'bundle_deploy_last_timestamp_seconds{release="r\\"1",result="success"} 1700000000\n'
        "# TYPE bundle_maintenance_last_success gauge\n"
        'bundle_maintenance_last_success{maintenance_job="vacuum"} 1\n'
        'bundle_maintenance_last_success{maintenance_job="prune"} 0.5\n'
    )


def test_textfile_mapping_form() -> None:
    assert monitoring_textfile.textfile({"bundle_snapshot_last_size_bytes": 42}) == (
        "# TYPE bundle_snapshot_last_size_bytes gauge\nbundle_snapshot_last_size_bytes 42\n"
    )


@pytest.mark.parametrize("metrics", [
    [],
    [{"name": "bad-name", "value": 1}],
    [{"name": "ok", "value": "many"}],
    [{"name": "ok", "value": 1, "labels": {"job": "vacuum"}}],
    [{"name": "ok", "value": 1, "labels": {"instance": "x"}}],
    [{"name": "ok", "value": 1, "labels": {"bad-label": "x"}}],
    [{"name": "ok", "value": 1, "type": "histogram"}],
    "bundle_x 1",
])
def test_textfile_refuses_bad_input(metrics: object) -> None:
    with pytest.raises(AnsibleFilterError):
        monitoring_textfile.textfile(metrics)


def test_alert_expectation_expands_labels_like_prometheus() -> None:
    groups = [{"name": "g", "rules": [{"alert": "RedisDown", "annotations": {"summary": "Redis on {{ $labels.instance }} is down",
                                                                           "runbook": "restart {{$labels.missing}}"}}]}]
    rule = monitoring_rules.alert_rule(groups, "RedisDown")
    assert monitoring_rules.alert_expectation({"instance": "r1"}, rule["annotations"]) == {
        "exp_labels": {"instance": "r1"},
        "exp_annotations": {"summary": "Redis on r1 is down", "runbook": "restart "},
    }
    assert monitoring_rules.rule_names(groups) == ["RedisDown"]
    with pytest.raises(AnsibleFilterError):
        monitoring_rules.alert_rule(groups, "Nope")
