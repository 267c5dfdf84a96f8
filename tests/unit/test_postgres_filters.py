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


def test_filter_module_exports() -> None:
    assert set(mod.FilterModule().filters()) == {"postgres_tuning", "postgres_hba_cidr"}


def test_hba_cidr() -> None:
    assert mod.postgres_hba_cidr("10.0.0.5") == "10.0.0.5/32"
    assert mod.postgres_hba_cidr("fd00::1") == "fd00::1/128"
    assert mod.postgres_hba_cidr("10.0.0.7/24") == "10.0.0.0/24"
    with pytest.raises(ValueError):
        mod.postgres_hba_cidr("0.0.0.0/0")
    with pytest.raises(ValueError):
        mod.postgres_hba_cidr("::/0")
    for junk in ("db.example", "", "10.0.0.300", None):
        with pytest.raises(ValueError):
            mod.postgres_hba_cidr(junk)

