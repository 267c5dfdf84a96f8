#!/usr/bin/python
"""pg_dump of a database with exact row counts taken in the same MVCC snapshot, and the counts of a restored database."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: postgres_snapshot
short_description: Consistent pg_dump with row counts from the same MVCC snapshot; row counts of a restored database
description:
  - "C(dump): opens a REPEATABLE READ, READ ONLY transaction, exports its snapshot (C(pg_export_snapshot())), counts
    the rows of every table of C(database) in it, and while the transaction is still open runs
    C(pg_dump --format=custom --snapshot=<that id>) to C(<dest>.partial), renamed to C(dest) once complete and readable
    by C(pg_restore --list). The counts are therefore those of the data in the dump. Run it as the postgres OS user
    (peer authentication on the local socket; no password anywhere)."
  - "C(count): the row counts of C(database) (e.g. the database a snapshot was just restored into) and their
    C(mismatches) against C(checks)."
  - "Tables counted: ordinary tables (and partitions) outside pg_catalog, information_schema and temporary or TOAST
    schemas, that do not belong to an extension. Materialized views are not counted (a restore refreshes them)."
options:
  action: {description: What to do., required: true, type: str, choices: [dump, count]}
  database: {description: Database to dump or count., required: true, type: str}
  port: {description: Server port (local socket)., type: int, default: 5432}
  socket_dir: {description: Directory of the server's unix socket., type: path, default: /var/run/postgresql}
  dest: {description: Dump file to write (dump)., type: path}
  checks: {description: checks recorded in meta.json, to compare the counts with (count)., type: dict}
requirements: [python3-psycopg2 and pg_dump on the target]
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Dump with row counts
  postgres_snapshot:
    action: dump
    database: app
    dest: /var/backups/bundle/postgres/src-3f2a9c1b2d4e/app.dump
  become: true
  become_user: postgres
"""

RETURN = r"""
checks: {description: "{database, tables: {schema.table: rows}, rows}.", returned: always, type: dict}
tool: {description: "{name: pg_dump, version}.", returned: dump, type: dict}
file: {description: Name of the dump file., returned: dump, type: str}
mismatches: {description: Differences between the counts and checks (empty when equal)., returned: count, type: list}
"""

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Mapping

from ansible.module_utils.basic import AnsibleModule

try:
    import psycopg2
    from psycopg2 import sql
    HAS_PSYCOPG2 = True
except ImportError:  # the module fails with a clear message; the pure functions below need no driver
    HAS_PSYCOPG2 = False

TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""


class DumpError(Exception):
    """The dump or the count failed; the message says why."""


def table_key(schema: str, table: str) -> str:
    return f"{schema}.{table}"


def build_checks(database: str, counts: Mapping[str, int]) -> dict[str, Any]:
    return {"database": database, "tables": dict(sorted(counts.items())), "rows": sum(counts.values())}


def mismatches(counts: Mapping[str, int], checks: Mapping[str, Any]) -> list[str]:
    """Tables whose rows differ from the recorded ones (missing and unexpected tables too)."""
    recorded: Mapping[str, int] = checks.get("tables", {})
    problems = [f"{t}: missing (the snapshot recorded {recorded[t]} rows)" for t in sorted(set(recorded) - set(counts))]
    problems += [f"{t}: not in the snapshot ({counts[t]} rows)" for t in sorted(set(counts) - set(recorded))]
    problems += [f"{t}: {counts[t]} rows, the snapshot recorded {recorded[t]}" for t in sorted(set(counts) & set(recorded))
                 if counts[t] != recorded[t]]
    return problems


def pg_dump_version(text: str) -> str:
    """`pg_dump --version` -> 15.14."""
    match = re.search(r"(\d+(?:\.\d+)+)", text)
    return match.group(1) if match else "unknown"


def count_rows(cursor: Any) -> dict[str, int]:
    """Exact rows of every counted table, in the cursor's transaction (its snapshot)."""
    cursor.execute(TABLES_SQL)
    counts: dict[str, int] = {}
    for schema, table in cursor.fetchall():
        cursor.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
        counts[table_key(schema, table)] = int(cursor.fetchone()[0])
    return counts


def _connect(database: str, port: int, socket_dir: str) -> Any:
    conn = psycopg2.connect(dbname=database, host=socket_dir, port=port, application_name="bundle-snapshot")
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    return conn


def dump(database: str, port: int, socket_dir: str, dest: Path) -> dict[str, Any]:
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = _connect(database, port, socket_dir)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            counts = count_rows(cursor)
            old_umask = os.umask(0o027)
            try:
                proc = subprocess.run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--host={socket_dir}",
                                       f"--port={port}", f"--dbname={database}", f"--file={partial}"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
            finally:
                os.umask(old_umask)
            if proc.returncode != 0:
                partial.unlink(missing_ok=True)
                raise DumpError(f"pg_dump of {database} failed ({proc.returncode}): {proc.stderr.strip()}")
    finally:
        conn.rollback()
        conn.close()
    listed = subprocess.run(["pg_restore", "--list", str(partial)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, check=False)
    if listed.returncode != 0:
        partial.unlink(missing_ok=True)
        raise DumpError(f"pg_restore --list cannot read the dump of {database}: {listed.stderr.strip()}")
    partial.rename(dest)
    version = pg_dump_version(subprocess.run(["pg_dump", "--version"], stdout=subprocess.PIPE, text=True, check=False).stdout)
    return {"checks": build_checks(database, counts), "tool": {"name": "pg_dump", "version": version}, "file": dest.name}


def count(database: str, port: int, socket_dir: str) -> dict[str, int]:
    conn = _connect(database, port, socket_dir)
    try:
        with conn.cursor() as cursor:
            return count_rows(cursor)
    finally:
        conn.rollback()
        conn.close()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["dump", "count"]},
            "database": {"type": "str", "required": True},
            "port": {"type": "int", "default": 5432},
            "socket_dir": {"type": "path", "default": "/var/run/postgresql"},
            "dest": {"type": "path"},
            "checks": {"type": "dict"},
        },
        required_if=[("action", "dump", ["dest"]), ("action", "count", ["checks"])],
        supports_check_mode=True,
    )
    params = module.params
    if not HAS_PSYCOPG2:
        module.fail_json(msg="postgres_snapshot needs python3-psycopg2 on the db host (the postgres role installs it)")
    try:
        if params["action"] == "dump":
            if module.check_mode:
                module.exit_json(changed=True)
            result = dump(params["database"], params["port"], params["socket_dir"], Path(params["dest"]))
            module.exit_json(changed=True, **result)
        counts = count(params["database"], params["port"], params["socket_dir"])
        module.exit_json(changed=False, checks=build_checks(params["database"], counts),
                         mismatches=mismatches(counts, params["checks"]))
    except (DumpError, OSError, psycopg2.Error) as exc:
        module.fail_json(msg=str(exc).strip())


if __name__ == "__main__":
    main()
