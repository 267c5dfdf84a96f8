from __future__ import annotations

import pytest

from docshare.migrations import MIGRATIONS, Migration, MigrationError, plan, validate


def test_shipped_migrations_are_ordered_and_unique() -> None:
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert versions[0] == 1
    assert versions == list(range(1, len(versions) + 1)), "versions should have no gaps"
    assert all(m.sql.strip() for m in MIGRATIONS)


def test_validate_sorts_and_rejects_duplicates() -> None:
    a, b = Migration(2, "b", "SELECT 2"), Migration(1, "a", "SELECT 1")
    assert [m.version for m in validate([a, b])] == [1, 2]
    with pytest.raises(MigrationError, match="duplicate"):
        validate([a, Migration(2, "c", "SELECT 3")])
    with pytest.raises(MigrationError):
        validate([Migration(0, "zero", "SELECT 0")])


def test_plan_returns_pending_in_order() -> None:
    ms = [Migration(3, "c", "SELECT 3"), Migration(1, "a", "SELECT 1"), Migration(2, "b", "SELECT 2")]
    assert [m.version for m in plan(ms, {})] == [1, 2, 3]
    assert [m.version for m in plan(ms, {1: ms[1].checksum})] == [2, 3]
    assert plan(ms, {m.version: m.checksum for m in ms}) == []


def test_plan_detects_drift_and_unknown_versions() -> None:
    ms = [Migration(1, "a", "SELECT 1")]
    with pytest.raises(MigrationError, match="changed"):
        plan(ms, {1: "0" * 64})
    with pytest.raises(MigrationError, match="does not know"):
        plan(ms, {1: ms[0].checksum, 7: "x"})


def test_checksum_ignores_surrounding_whitespace() -> None:
    assert Migration(1, "a", "\n SELECT 1 \n").checksum == Migration(1, "a", "SELECT 1").checksum
