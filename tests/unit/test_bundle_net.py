import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from bundle_net import bundle_group_addresses, bundle_is_ip, bundle_is_network  # noqa: E402


@pytest.mark.parametrize("value", ["127.0.0.1", "10.1.2.3", "::1", "fe80::1"])
def test_addresses_are_ips(value):
    assert bundle_is_ip(value)


@pytest.mark.parametrize("value", ["0.0.0.0/0", "redis1", "", None, "10.0.0.256", "10.0.0.0/24"])
def test_non_addresses_are_refused(value):
    assert not bundle_is_ip(value)


def test_networks():
    assert bundle_is_network("10.0.0.0/24")
    assert bundle_is_network("10.0.0.7")
    assert not bundle_is_network("*")


def test_group_addresses_in_inventory_order():
    hostvars = {
        "app2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}}},
        "app1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.11"}}},
    }
    assert bundle_group_addresses({"app": ["app1", "app2"]}, "app", hostvars) == ["10.0.0.11", "10.0.0.12"]
    assert bundle_group_addresses({}, "app", hostvars) == []


def test_group_addresses_refuse_hosts_without_facts():
    with pytest.raises(ValueError, match="app3"):
        bundle_group_addresses({"app": ["app3"]}, "app", {"app3": {}})
