import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from nginx_upstream import nginx_is_duration, nginx_is_rate, nginx_is_size, nginx_upstream_servers  # noqa: E402

HOSTVARS = {
    "app1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.11"}}},
    "app2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}}, "app_port": 8001},
    "app3": {"nginx_upstream_address": "10.0.0.13", "nginx_upstream_port": "9000", "app_port": 8001},
}


def test_servers_in_inventory_order_with_ports_and_down():
    servers = nginx_upstream_servers({"app": ["app2", "app1", "app3"]}, "app", HOSTVARS, 8000, ["app1"])
    assert servers == [
        {"name": "app2", "address": "10.0.0.12", "port": 8001, "down": False},
        {"name": "app1", "address": "10.0.0.11", "port": 8000, "down": True},
        {"name": "app3", "address": "10.0.0.13", "port": 9000, "down": False},
    ]


def test_missing_group_is_empty():
    assert nginx_upstream_servers({}, "app", HOSTVARS, 8000) == []


def test_host_without_address_raises():
    with pytest.raises(ValueError, match="app9"):
        nginx_upstream_servers({"app": ["app9"]}, "app", {"app9": {}}, 8000)


@pytest.mark.parametrize("value", ["10m", "512", "64k", "1g", "1G"])
def test_sizes(value):
    assert nginx_is_size(value)


@pytest.mark.parametrize("value", ["", "0", "10 m", "10mb", "-1m", "10m;", None])
def test_bad_sizes(value):
    assert not nginx_is_size(value)


@pytest.mark.parametrize("value", ["30s", "500ms", "1h30m", "10", "1d"])
def test_durations(value):
    assert nginx_is_duration(value)


@pytest.mark.parametrize("value", ["", "30 s", "s", "30x", "0s", "30s;"])
def test_bad_durations(value):
    assert not nginx_is_duration(value)


@pytest.mark.parametrize(("value", "ok"), [("10r/s", True), ("30r/m", True), ("10/s", False), ("0r/s", False), ("10r/h", False)])
def test_rates(value, ok):
    assert nginx_is_rate(value) is ok
