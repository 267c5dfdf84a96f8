"""Filters for the postgres role: memory/connection sizing and snapshot pruning.

`postgres_tuning(memory_mb)` derives PostgreSQL settings from a host's memory (MiB);
every value is a default the inventory can override one by one.
`postgres_snapshot_prune(snapshots, keep, protected)` names the snapshot ids to remove.
`postgres_snapshot_index(find_results)` turns found <root>/<id>/meta.json files into [{id, time}].
`postgres_hba_cidr(value)` turns an address or network into pg_hba CIDR form (raises on junk).
`postgres_is_ip(value, networks=False)` tests an address (or, with networks, a CIDR).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Callable, Iterable, Mapping


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


def postgres_snapshot_prune(snapshots: Iterable[Mapping[str, Any]], keep: Any, protected: Iterable[str] = ()) -> list[str]:
    """Ids to delete so that the `keep` newest unprotected snapshots remain.

    `snapshots` are mappings with `id` and `time` (any sortable value, e.g. an epoch).
    Protected ids are never returned and do not count towards `keep`.
    """
    keep_n = int(keep)
    if keep_n < 0:
        raise ValueError(f"postgres_snapshot_prune: keep must be >= 0, got {keep!r}")
    shielded = set(protected or ())
    candidates = [s for s in snapshots if s["id"] not in shielded]
    candidates.sort(key=lambda s: (s["time"], s["id"]), reverse=True)
    return sorted(str(s["id"]) for s in candidates[keep_n:])


def postgres_snapshot_index(found: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`ansible.builtin.find` results for <root>/<id>/meta.json -> [{id, time}] (time = meta.json mtime)."""
    index = []
    for item in found:
        parts = str(item["path"]).rstrip("/").split("/")
        if len(parts) < 2 or parts[-1] != "meta.json":
            raise ValueError(f"postgres_snapshot_index: expected <root>/<id>/meta.json, got {item['path']!r}")
        index.append({"id": parts[-2], "time": float(item["mtime"])})
    return sorted(index, key=lambda s: (s["time"], s["id"]), reverse=True)


def postgres_is_ip(value: Any, networks: bool = False) -> bool:
    """True when value is an IP address (or, with networks=True, an address or CIDR other than /0)."""
    text = str(value).strip()
    try:
        if "/" not in text:
            ipaddress.ip_address(text)
            return True
        if not networks:
            return False
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return net.prefixlen > 0


def postgres_hba_cidr(value: Any) -> str:
    """`10.0.0.5` -> `10.0.0.5/32`, `fd00::1` -> `fd00::1/128`, `10.0.0.0/24` kept (host bits cleared)."""
    text = str(value).strip()
    if not postgres_is_ip(text, networks=True):
        raise ValueError(f"postgres_hba_cidr: {value!r} is not an IP address or CIDR (and /0 is refused)")
    return str(ipaddress.ip_network(text, strict=False))


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "postgres_tuning": postgres_tuning,
            "postgres_snapshot_prune": postgres_snapshot_prune,
            "postgres_snapshot_index": postgres_snapshot_index,
            "postgres_is_ip": postgres_is_ip,
            "postgres_hba_cidr": postgres_hba_cidr,
        }
