"""PostgreSQL access with psycopg 3: one autocommit connection per thread, reconnected on failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

CONNECT_TIMEOUT_SECONDS = 3
# Advisory lock keys (pg_advisory_lock(bigint)); one per job that must never run twice at once.
LOCK_MIGRATE = 0x646F6373_0001  # "docs" + 1
LOCK_CLEANUP = 0x646F6373_0002
LOCK_UPKEEP = 0x646F6373_0003
LOCK_SWEEP = 0x646F6373_0004


class LockNotAcquired(Exception):
    """Another process holds the advisory lock."""


def connect(
    url: str,
    statement_timeout_ms: int | None = None,
    application_name: str = "docshare",
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
) -> psycopg.Connection[Any]:
    # Options of the URL itself (`?options=-csearch_path%3D...`) are kept: a keyword argument would replace them.
    options = " ".join(o for o in (conninfo_to_dict(url).get("options") or "",
                                   f"-c statement_timeout={statement_timeout_ms}" if statement_timeout_ms else "") if o)
    kwargs: dict[str, Any] = {"connect_timeout": connect_timeout, "application_name": application_name}
    if options:
        kwargs["options"] = options
    return psycopg.connect(url, autocommit=True, **kwargs)


def ping(url: str) -> None:
    """Open a new connection and run ``SELECT 1`` (the health check: proves new sessions are accepted,
    and keeps no idle connection per health thread)."""
    with connect(url, statement_timeout_ms=2_000, application_name="docshare-health", connect_timeout=2) as conn:
        conn.execute("SELECT 1")


class Database:
    """Thread-local autocommit connections; a broken connection is dropped and reopened next time."""

    def __init__(self, url: str, statement_timeout_ms: int | None = 10_000, application_name: str = "docshare") -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self.application_name = application_name
        self._local = threading.local()

    def connection(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = connect(self.url, self.statement_timeout_ms, self.application_name)
            self._local.conn = conn
        return conn

    def _discard(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        # A kept connection may have died since its last use (database restart, failover):
        # a read is retried once on a fresh connection; a write is not (it may have committed).
        reused = getattr(self._local, "conn", None) is not None
        retry = reused and sql.lstrip()[:6].upper() == "SELECT"
        try:
            return self._run(sql, params)
        except psycopg.OperationalError:
            self._discard()
            if not retry:
                raise
        return self._run(sql, params)

    def _run(self, sql: str, params: Sequence[Any] | None) -> list[tuple[Any, ...]]:
        try:
            with self.connection().cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        except psycopg.OperationalError:
            self._discard()
            raise

    def fetchone(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.execute(sql, params)

    def close(self) -> None:
        self._discard()


@contextmanager
def advisory_lock(conn: psycopg.Connection[Any], key: int, wait: bool = True) -> Iterator[None]:
    """Hold a session-level advisory lock on ``conn`` for the duration of the block."""
    with conn.cursor() as cur:
        if wait:
            cur.execute("SELECT pg_advisory_lock(%s)", (key,))
        else:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = cur.fetchone()
            if not row or not row[0]:
                raise LockNotAcquired(f"advisory lock {key} is held by another session")
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
