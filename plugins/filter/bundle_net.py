"""Network filters shared by the bundle's roles (no netaddr needed on the controller)."""
from __future__ import annotations

import ipaddress
from typing import Any


def bundle_is_ip(value: Any) -> bool:
    """True when value is a single IPv4 or IPv6 address (no prefix, no host name)."""
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def bundle_is_network(value: Any) -> bool:
    """True when value is an address or a CIDR network such as 10.0.0.0/24."""
    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return False
    return True


def bundle_group_addresses(groups: dict[str, list[str]], group: str, hostvars: dict[str, Any]) -> list[str]:
    """Private addresses (default_ipv4) of the hosts of an inventory group, in inventory order.

    A host without gathered facts raises a clear error instead of silently dropping out of an
    allow-list or an upstream.
    """
    addresses: list[str] = []
    for host in groups.get(group, []):
        facts = hostvars.get(host, {}).get("ansible_facts", {})
        address = facts.get("default_ipv4", {}).get("address")
        if not address:
            raise ValueError(f"host {host} of group {group} has no gathered default_ipv4 address; gather facts for it first")
        addresses.append(address)
    return addresses


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "bundle_is_ip": bundle_is_ip,
            "bundle_is_network": bundle_is_network,
            "bundle_group_addresses": bundle_group_addresses,
        }
