"""Database upkeep: VACUUM (ANALYZE) every application table and report table statistics."""

from __future__ import annotations

import time
from typing import Any

from psycopg import sql

from .db import LOCK_UPKEEP, advisory_lock, connect

TABLES = ("documents", "schema_migrations")

_STATS = """
SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid)
FROM pg_stat_user_tables WHERE relname = ANY(%s)
"""


def _stats(conn: Any) -> dict[str, dict[str, int]]:
    with conn.cursor() as cur:
        cur.execute(_STATS, (list(TABLES),))
        return {
            name: {"live_tuples": int(live), "dead_tuples": int(dead), "size_bytes": int(size)}
            for name, live, dead, size in cur.fetchall()
        }


def db_upkeep(database_url: str, analyze_only: bool = False) -> dict[str, Any]:
    """Run VACUUM (ANALYZE) (or ANALYZE only) on each table; one run at a time across hosts."""
    started = time.monotonic()
    # VACUUM cannot run inside a transaction: the connection is in autocommit mode.
    with connect(database_url, application_name="docshare-upkeep") as conn:
        with advisory_lock(conn, LOCK_UPKEEP, wait=False):
            before = _stats(conn)
            done: list[str] = []
            for table in TABLES:
                if table not in before:
                    continue
                statement = sql.SQL("ANALYZE {}") if analyze_only else sql.SQL("VACUUM (ANALYZE) {}")
                with conn.cursor() as cur:
                    cur.execute(statement.format(sql.Identifier(table)))
                done.append(table)
            after = _stats(conn)
    return {
        "operation": "analyze" if analyze_only else "vacuum_analyze",
        "tables": {
            t: {
                "dead_tuples_before": before[t]["dead_tuples"],
                "live_tuples": after.get(t, before[t])["live_tuples"],
                "size_bytes": after.get(t, before[t])["size_bytes"],
            }
            for t in done
        },
        "duration_seconds": round(time.monotonic() - started, 3),
    }
