"""Unit tests of the pure parts of plugins/modules/postgres_snapshot.py (the dump itself is exercised by molecule postgres)."""
from __future__ import annotations

import postgres_snapshot as mod


def test_checks_sum_the_tables() -> None:
    assert mod.build_checks("app", {"public.orders": 50, "public.items": 2}) == {
        "database": "app", "tables": {"public.items": 2, "public.orders": 50}, "rows": 52}
    assert mod.table_key("public", "orders") == "public.orders"


def test_mismatches_name_every_difference() -> None:
    checks = mod.build_checks("app", {"public.orders": 50, "public.items": 2, "s.gone": 1})
    assert mod.mismatches({"public.orders": 50, "public.items": 2, "s.gone": 1}, checks) == []
    assert mod.mismatches({"public.orders": 51, "public.items": 2, "public.new": 0}, checks) == [
        "s.gone: missing (the snapshot recorded 1 rows)",
        "public.new: not in the snapshot (0 rows)",
        "public.orders: 51 rows, the snapshot recorded 50",
    ]


def test_pg_dump_version() -> None:
    assert mod.pg_dump_version("pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)") == "15.14"
    assert mod.pg_dump_version("nothing") == "unknown"


def test_tables_counted_exclude_catalogs_extensions_and_views() -> None:
    sql = " ".join(mod.TABLES_SQL.split())
    assert "c.relkind = 'r'" in sql
    assert "n.nspname NOT IN ('pg_catalog', 'information_schema')" in sql
    assert "d.deptype = 'e'" in sql
