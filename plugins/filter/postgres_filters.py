"""Filters for the postgres role: memory/connection sizing and pg_hba addresses.

`postgres_tuning(memory_mb)` derives PostgreSQL settings from a host's memory (MiB);
every value is a default the inventory can override one by one.
`postgres_hba_cidr(value)` turns an address or network into pg_hba CIDR form (raises on junk).
Address tests are the shared `bundle_is_ip` / `bundle_is_network` (plugins/filter/bundle_net.py);
snapshot listing and pruning are the snapshot contract's (plugins/module_utils/bundle_snapshot.py).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def postgres_tuning(memory_mb: Any) -> dict[str, int]:
    """Sizing from total memory in MiB (pgtune-like rules for a dedicated web-app database).

    shared_buffers 25 % (32 MiB..8 GiB), effective_cache_size 75 %, maintenance_work_mem
    1/16 (16 MiB..2 GiB), max_connections 1 per 50 MiB (100..300), work_mem from what is
    left after shared_buffers, split over 3 sort/hash nodes per connection (4..256 MiB).
    """
    mem = int(memory_mb)
    if mem <= 0:
        raise ValueError(f"postgres_tuning: memory must be a positive number of MiB, got {memory_mb!r}")
    shared_buffers = _clamp(mem // 4, 32, 8192)
    max_connections = _clamp(mem // 50, 100, 300)
    return {
        "max_connections": max_connections,
        "shared_buffers_mb": shared_buffers,
        "effective_cache_size_mb": max(64, mem * 3 // 4),
        "maintenance_work_mem_mb": _clamp(mem // 16, 16, 2048),
        "work_mem_mb": _clamp((mem - shared_buffers) // (max_connections * 3), 4, 256),
    }


def postgres_hba_cidr(value: Any) -> str:
    """`10.0.0.5` -> `10.0.0.5/32`, `fd00::1` -> `fd00::1/128`, `10.0.0.0/24` kept (host bits cleared); /0 is refused."""
    text = str(value).strip()
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        net = None
    if net is None or net.prefixlen == 0 or not text:
        raise ValueError(f"postgres_hba_cidr: {value!r} is not an IP address or CIDR (and /0 is refused)")
    return str(net)


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "postgres_tuning": postgres_tuning,
            "postgres_hba_cidr": postgres_hba_cidr,
        }
