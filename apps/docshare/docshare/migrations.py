"""Versioned schema migrations, recorded in ``schema_migrations``.

``migrate`` takes a PostgreSQL advisory lock, so two hosts running it at once apply each
migration exactly once (the second waits, then finds nothing pending). Each migration runs in
its own transaction together with its ``schema_migrations`` row. An applied migration whose
text changed is reported as drift and stops the run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.strip().encode()).hexdigest()


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "create_documents",
        """
        CREATE TABLE documents (
            id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name         TEXT NOT NULL,
            stored_name  TEXT NOT NULL UNIQUE,
            content_type TEXT NOT NULL DEFAULT 'application/octet-stream',
            size_bytes   BIGINT NOT NULL CHECK (size_bytes >= 0),
            created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
        );
        CREATE INDEX documents_created_at_idx ON documents (created_at DESC, id DESC);
        """,
    ),
    Migration(
        2,
        "document_processing_results",
        """
        ALTER TABLE documents
            ADD COLUMN sha256           TEXT,
            ADD COLUMN mime_type        TEXT,
            ADD COLUMN processed_size   BIGINT,
            ADD COLUMN processed_at     TIMESTAMPTZ,
            ADD COLUMN processing_error TEXT;
        CREATE INDEX documents_unprocessed_idx ON documents (created_at) WHERE processed_at IS NULL;
        """,
    ),
)

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    checksum   TEXT NOT NULL,
    release    TEXT,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    pass


def validate(migrations: Sequence[Migration]) -> list[Migration]:
    """Return migrations sorted by version; reject duplicates and versions below 1."""
    ordered = sorted(migrations, key=lambda m: m.version)
    seen: set[int] = set()
    for m in ordered:
        if m.version < 1:
            raise MigrationError(f"migration {m.name}: version must be >= 1")
        if m.version in seen:
            raise MigrationError(f"duplicate migration version {m.version}")
        seen.add(m.version)
    return ordered


def plan(migrations: Sequence[Migration], applied: dict[int, str]) -> list[Migration]:
    """Migrations still to apply, in order, given ``applied`` (version -> checksum).

    Raises on drift (an applied migration whose text changed) and on an applied version this
    code does not know (the database is newer than the code).
    """
    ordered = validate(migrations)
    known = {m.version: m for m in ordered}
    unknown = sorted(set(applied) - set(known))
    if unknown:
        raise MigrationError(f"database has migrations this release does not know: {unknown}")
    for version, checksum in applied.items():
        if known[version].checksum != checksum:
            raise MigrationError(f"migration {version} ({known[version].name}) changed after it was applied")
    return [m for m in ordered if m.version not in applied]


def _applied(cur: Any) -> dict[int, str]:
    cur.execute("SELECT version, checksum FROM schema_migrations")
    return {int(v): str(c) for v, c in cur.fetchall()}


def migrate(
    database_url: str, release: str, migrations: Iterable[Migration] = MIGRATIONS, dry_run: bool = False
) -> dict[str, Any]:
    """Apply pending migrations under the advisory lock; return a JSON-able summary."""
    from .db import LOCK_MIGRATE, advisory_lock, connect

    migrations = list(migrations)
    with connect(database_url, application_name="docshare-migrate") as conn:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '300s'")
        with advisory_lock(conn, LOCK_MIGRATE):
            with conn.cursor() as cur:
                cur.execute(CREATE_TABLE)
                pending = plan(migrations, _applied(cur))
            applied_now: list[dict[str, Any]] = []
            for m in pending:
                if dry_run:
                    applied_now.append({"version": m.version, "name": m.name})
                    continue
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(m.sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum, release) VALUES (%s, %s, %s, %s)",
                        (m.version, m.name, m.checksum, release),
                    )
                applied_now.append({"version": m.version, "name": m.name})
            with conn.cursor() as cur:
                current = max(_applied(cur), default=0)
    return {
        "dry_run": dry_run,
        "applied": applied_now,
        "applied_count": len(applied_now),
        "current_version": current,
        "latest_version": max((m.version for m in migrations), default=0),
        "release": release,
    }


def status(database_url: str) -> dict[str, Any]:
    from .db import connect

    with connect(database_url, application_name="docshare-migrate") as conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        row = cur.fetchone()
        applied = _applied(cur) if row and row[0] else {}
    pending = plan(MIGRATIONS, applied)
    return {"current_version": max(applied, default=0), "pending": [m.version for m in pending]}
