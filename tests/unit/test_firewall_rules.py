"""Unit tests of the firewall role's filters (plugins/filter/firewall_rules.py)."""
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from firewall_rules import (  # noqa: E402
    firewall_address_in,
    firewall_admits,
    firewall_problems,
    firewall_rules,
    firewall_source_groups,
)

DEFAULTS = yaml.safe_load((Path(__file__).resolve().parents[2] / "roles" / "firewall" / "defaults" / "main.yml").read_text())
KNOWN = DEFAULTS["firewall_known_groups"]
ADMIN = ["10.213.77.1/32"]
# The role's default services as the role sees them once templated (the admin networks filled in).
SERVICES = [dict(s, from_networks=ADMIN) if isinstance(s.get("from_networks"), str) else s for s in DEFAULTS["firewall_services"]]
ADDRESSES = {
    "app": ["10.0.0.11", "10.0.0.12"],
    "proxy": ["10.0.0.20"],
    "monitor": ["10.0.0.60"],
}


def rules_of(host_groups, services=SERVICES, addresses=ADDRESSES):
    return {r["name"]: r for r in firewall_rules(services, host_groups, addresses)}


def test_default_services_have_no_problems():
    assert firewall_problems(SERVICES, "firewall_services", KNOWN) == []


def test_every_default_service_port_is_covered():
    ports = {p for s in SERVICES for p in s["ports"]}
    assert ports == {22, 80, 443, 111, 875, 2049, 3903, 5000, 5001, 5432, 6379, 8000, 9090, 9100, 9113, 9121, 9187}


@pytest.mark.parametrize("entry, message", [
    ({"name": "x", "group": "db", "ports": [70000], "from_groups": ["app"]}, "ports must be a non-empty list of port numbers 1-65535"),
    ({"name": "x", "group": "db", "ports": [0], "from_groups": ["app"]}, "1-65535"),
    ({"name": "x", "group": "db", "ports": [True], "from_groups": ["app"]}, "1-65535"),
    ({"name": "x", "group": "db", "ports": [], "from_groups": ["app"]}, "non-empty"),
    ({"name": "x", "group": "db", "ports": [5432], "from_groups": ["aap"]}, "from_groups aap: neither inventory groups nor in firewall_known_groups"),
    ({"name": "x", "group": "dbs", "ports": [5432], "from_groups": ["app"]}, "group 'dbs' is neither an inventory group"),
    ({"name": "x", "ports": [5432], "from_groups": ["app"]}, "group (the inventory group"),
    ({"name": "x", "group": "db", "ports": [5432]}, "needs from_groups or from_networks"),
    ({"name": "x", "group": "db", "ports": [5432], "from_group": ["app"]}, "unknown key(s) from_group"),
    ({"name": "x", "group": "db", "ports": [5432], "protocols": ["sctp"], "from_groups": ["app"]}, "protocols must be"),
    ({"name": "x y", "group": "db", "ports": [5432], "from_groups": ["app"]}, "name must be"),
    ({"name": "x", "group": "db", "ports": [5432], "from_networks": "10.0.0.0/8"}, "from_networks must be a list"),
    ({"name": "x", "group": "db", "rule": "tcp dport 1 accept; flush ruleset"}, "one nftables statement"),
    ({"name": "x", "group": "db", "rule": "tcp dport 1 accept", "ports": [1]}, "a raw rule takes only name, group and rule"),
])
def test_problems_name_the_entry_and_the_fix(entry, message):
    problems = firewall_problems([entry], "firewall_extra_rules", KNOWN)
    assert problems and problems[0].startswith("firewall_extra_rules[0]"), problems
    assert any(message in p for p in problems), problems


def test_inventory_groups_count_as_known():
    entry = {"name": "x", "group": "workers", "ports": [1], "from_groups": ["batch"]}
    assert firewall_problems([entry], "firewall_extra_rules", KNOWN + ["workers", "batch"]) == []


def test_port_strings_of_digits_are_ports():
    entry = {"name": "x", "group": "db", "ports": ["5432"], "from_groups": ["app"]}
    assert firewall_problems([entry], "v", KNOWN) == []
    assert rules_of(["db"], [entry])["x"]["ports"] == [5432]


def test_not_a_list_or_not_a_mapping():
    assert "must be a list" in firewall_problems({"name": "x"}, "firewall_services", KNOWN)[0]
    assert "must be a mapping" in firewall_problems(["ssh"], "firewall_services", KNOWN)[0]


def test_source_groups_are_those_of_the_hosts_rules():
    assert firewall_source_groups(SERVICES, ["db"]) == ["monitor", "app"]
    assert firewall_source_groups(SERVICES, ["proxy"]) == ["monitor"]
    assert set(firewall_source_groups(SERVICES, ["nfs"])) == {"monitor", "app", "proxy"}


def test_redis_admits_app_and_monitor_only():
    redis = rules_of(["redis"])["redis"]
    assert redis["networks"] == ["10.0.0.11/32", "10.0.0.12/32", "10.0.0.60/32"]
    assert redis["statements"] == ['ip saddr { 10.0.0.11, 10.0.0.12, 10.0.0.60 } tcp dport 6379 counter accept comment "redis"']
    assert "postgres" not in rules_of(["redis"])


def test_every_host_gets_ssh_and_node_exporter():
    rules = rules_of([])
    assert set(rules) == {"ssh", "node-exporter"}
    assert rules["ssh"]["statements"] == ['ip saddr { 10.213.77.1 } tcp dport 22 counter accept comment "ssh"']


def test_http_is_open_to_everyone_in_both_families():
    http = rules_of(["proxy"])["http"]
    assert http["statements"] == ['tcp dport { 80, 443 } counter accept comment "http"']
    assert firewall_admits(rules_of(["proxy"]).values(), "203.0.113.9", "tcp", 443)


def test_udp_and_tcp_rules_for_rpc():
    rpc = rules_of(["nfs"])["nfs-rpc"]
    assert [s.split(" dport")[0].split()[-1] for s in rpc["statements"]] == ["tcp", "udp"]
    assert "dport { 111, 875 }" in rpc["statements"][0]


def test_one_family_open_to_all_the_other_listed():
    entry = {"name": "x", "group": "db", "ports": [1], "from_networks": ["0.0.0.0/0", "2001:db8::/32"]}
    assert rules_of(["db"], [entry])["x"]["statements"] == [
        'meta nfproto ipv4 tcp dport 1 counter accept comment "x"',
        'ip6 saddr { 2001:db8::/32 } tcp dport 1 counter accept comment "x"',
    ]


def test_sources_are_deduplicated_and_collapsed():
    entry = {"name": "x", "group": "db", "ports": [1], "from_groups": ["app"], "from_networks": ["10.0.0.0/24", "10.0.0.12"]}
    assert rules_of(["db"], [entry])["x"]["networks"] == ["10.0.0.0/24"]


def test_group_without_hosts_admits_nobody():
    entry = {"name": "x", "group": "db", "ports": [1], "from_groups": ["registry"]}
    rule = rules_of(["db"], [entry])["x"]
    assert rule["statements"] == [] and "nobody admitted" in rule["comment"]


def test_raw_rule_is_kept_as_written():
    entry = {"name": "rate", "group": "all", "rule": " tcp dport 2222 limit rate 5/minute accept "}
    rule = rules_of([], [entry])["rate"]
    assert rule["statements"] == ["tcp dport 2222 limit rate 5/minute accept"]
    assert not firewall_admits([rule], "10.0.0.1", "tcp", 2222)


@pytest.mark.parametrize("address, expected", [
    ("10.213.77.1", True), ("::ffff:10.213.77.1", True), ("10.213.77.2", False), ("", False), ("host", False),
])
def test_address_in(address, expected):
    assert firewall_address_in(address, ["10.213.77.1/32", "192.0.2.0/24"]) is expected


def test_admits_checks_protocol_and_port():
    rules = rules_of(["monitor"]).values()
    assert firewall_admits(rules, "10.213.77.1", "tcp", "22")
    assert firewall_admits(rules, "10.213.77.1", "tcp", 9090)
    assert not firewall_admits(rules, "10.213.77.1", "udp", 22)
    assert not firewall_admits(rules, "10.213.77.1", "tcp", 9100)
    assert not firewall_admits(rules, "10.0.0.11", "tcp", 22)
