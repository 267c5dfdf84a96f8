"""Filters of the nginx role: upstream servers from an inventory group, nginx value checks."""
from __future__ import annotations

import re
from typing import Any

_SIZE = re.compile(r"^[1-9][0-9]*[kKmMgG]?$")
_DURATION = re.compile(r"^([1-9][0-9]*(ms|s|m|h|d|w|M|y)?)+$")
_RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")


def nginx_upstream_servers(
    groups: dict[str, list[str]],
    group: str,
    hostvars: dict[str, Any],
    default_port: int,
    down_hosts: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Upstream servers of an inventory group, in inventory order.

    Each host gives `address` (its `nginx_upstream_address`, else the gathered
    `default_ipv4` address), `port` (`nginx_upstream_port`, else `app_port`, else
    default_port) and `down` (host listed in down_hosts). A host without an address
    raises instead of silently leaving the upstream.
    """
    down = set(down_hosts or [])
    servers: list[dict[str, Any]] = []
    for host in groups.get(group, []):
        hvars = hostvars.get(host, {})
        address = hvars.get("nginx_upstream_address") or (
            hvars.get("ansible_facts", {}).get("default_ipv4", {}).get("address")
        )
        if not address:
            raise ValueError(f"host {host} of group {group} has no default_ipv4 address: gather its facts or set nginx_upstream_address")
        port = int(hvars.get("nginx_upstream_port") or hvars.get("app_port") or default_port)
        servers.append({"name": host, "address": str(address), "port": port, "down": host in down})
    return servers


def nginx_is_size(value: Any) -> bool:
    """True for an nginx size such as 512, 64k, 10m or 1g."""
    return bool(_SIZE.match(str(value)))


def nginx_is_duration(value: Any) -> bool:
    """True for an nginx duration such as 500ms, 30s, 10m, 1h or 1h30m."""
    return bool(_DURATION.match(str(value)))


def nginx_is_rate(value: Any) -> bool:
    """True for an nginx request rate such as 10r/s or 30r/m."""
    return bool(_RATE.match(str(value)))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "nginx_upstream_servers": nginx_upstream_servers,
            "nginx_is_size": nginx_is_size,
            "nginx_is_duration": nginx_is_duration,
            "nginx_is_rate": nginx_is_rate,
        }
