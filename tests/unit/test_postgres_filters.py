"""Unit tests for plugins/filter/postgres_filters.py."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "plugins" / "filter" / "postgres_filters.py"
_SPEC = importlib.util.spec_from_file_location("postgres_filters", _PATH)
assert _SPEC and _SPEC.loader
mod = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(mod)


def test_small_host_gets_floor_values() -> None:
    t = mod.postgres_tuning(1024)
    assert t == {
        "max_connections": 100,
        "shared_buffers_mb": 256,
        "effective_cache_size_mb": 768,
        "maintenance_work_mem_mb": 64,
        "work_mem_mb": 4,
    }


def test_large_host_is_capped() -> None:
    t = mod.postgres_tuning(24 * 1024)
    assert t["shared_buffers_mb"] == 6144
    assert t["max_connections"] == 300
    assert t["maintenance_work_mem_mb"] == 1536
    assert t["effective_cache_size_mb"] == 18432
    assert t["work_mem_mb"] == (24 * 1024 - 6144) // 900
    huge = mod.postgres_tuning(1024 * 1024)
    assert huge["shared_buffers_mb"] == 8192
    assert huge["maintenance_work_mem_mb"] == 2048
    assert huge["work_mem_mb"] == 256


def test_string_input_from_facts() -> None:
    assert mod.postgres_tuning("2048") == mod.postgres_tuning(2048)


@pytest.mark.parametrize("bad", [0, -5, "0"])
def test_rejects_non_positive(bad: object) -> None:
    with pytest.raises(ValueError):
        mod.postgres_tuning(bad)


def _snaps(*pairs: tuple[str, int]) -> list[dict[str, object]]:
    return [{"id": i, "time": t} for i, t in pairs]


def test_prune_keeps_newest() -> None:
    snaps = _snaps(("a", 1), ("b", 2), ("c", 3), ("d", 4))
    assert mod.postgres_snapshot_prune(snaps, 2) == ["a", "b"]


def test_prune_never_removes_protected_and_they_do_not_count() -> None:
    snaps = _snaps(("a", 1), ("b", 2), ("c", 3), ("d", 4))
    assert mod.postgres_snapshot_prune(snaps, 1, ["a", "d"]) == ["b"]


def test_prune_keep_zero_and_more_than_present() -> None:
    snaps = _snaps(("a", 1), ("b", 2))
    assert mod.postgres_snapshot_prune(snaps, 0, ["b"]) == ["a"]
    assert mod.postgres_snapshot_prune(snaps, 5) == []
    with pytest.raises(ValueError):
        mod.postgres_snapshot_prune(snaps, -1)


def test_filter_module_exports() -> None:
    names = mod.FilterModule().filters()
    assert set(names) == {
        "postgres_tuning", "postgres_snapshot_prune", "postgres_snapshot_index", "postgres_is_ip", "postgres_hba_cidr"
    }


@pytest.mark.parametrize("value", ["10.0.0.5", "127.0.0.1", "fd00::1"])
def test_is_ip_addresses(value: str) -> None:
    assert mod.postgres_is_ip(value)
    assert mod.postgres_is_ip(value, networks=True)


@pytest.mark.parametrize("value", ["", "localhost", "10.0.0.300", "*", None, "10.0.0.0/24"])
def test_is_ip_rejects(value: object) -> None:
    assert not mod.postgres_is_ip(value)


def test_is_ip_networks() -> None:
    assert mod.postgres_is_ip("10.0.0.0/24", networks=True)
    assert not mod.postgres_is_ip("0.0.0.0/0", networks=True)
    assert not mod.postgres_is_ip("::/0", networks=True)


def test_hba_cidr() -> None:
    assert mod.postgres_hba_cidr("10.0.0.5") == "10.0.0.5/32"
    assert mod.postgres_hba_cidr("fd00::1") == "fd00::1/128"
    assert mod.postgres_hba_cidr("10.0.0.7/24") == "10.0.0.0/24"
    with pytest.raises(ValueError):
        mod.postgres_hba_cidr("0.0.0.0/0")
    with pytest.raises(ValueError):
        mod.postgres_hba_cidr("db.example")



def test_snapshot_index_from_find_results() -> None:
    found = [
        {"path": "/var/backups/bundle/postgres/r1/meta.json", "mtime": 10.0},
        {"path": "/var/backups/bundle/postgres/r2/meta.json", "mtime": 20},
    ]
    assert mod.postgres_snapshot_index(found) == [{"id": "r2", "time": 20.0}, {"id": "r1", "time": 10.0}]
    with pytest.raises(ValueError):
        mod.postgres_snapshot_index([{"path": "/x/r1/dump", "mtime": 1}])
