"""PostgreSQL access with psycopg 3: one autocommit connection per thread, reconnected on failure.

A kept connection can die while idle (a PostgreSQL restart, a failover). Reads on it are retried once
on a new connection. Writes are never retried after they were sent (they may have committed), so a
kept connection is pinged before a write is sent on it (SQLAlchemy's ``pool_pre_ping``): a connection
that died while idle is replaced before anything reaches the server, and only a write whose fate is
unknown (the connection died between the ping and the answer) is refused.
"""

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

    def connection(self, pre_ping: bool = True) -> psycopg.Connection[Any]:
        """This thread's connection; a kept one is pinged first unless ``pre_ping`` is false."""
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is not None and pre_ping and not (conn.closed or conn.broken) and not _alive(conn):
            self._discard()
            conn = None
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
        # A read on a kept connection that died is retried once on a new one (costs nothing when
        # the connection is alive); a write is sent only on a connection that was just pinged or
        # just opened, and is not retried (it may have committed).
        read = sql.lstrip()[:6].upper() == "SELECT"
        reused = getattr(self._local, "conn", None) is not None
        try:
            return self._run(sql, params, pre_ping=not read)
        except psycopg.OperationalError:
            self._discard()
            if not (read and reused):
                raise
        return self._run(sql, params, pre_ping=False)

    def _run(self, sql: str, params: Sequence[Any] | None, pre_ping: bool) -> list[tuple[Any, ...]]:
        try:
            with self.connection(pre_ping).cursor() as cur:
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


def _alive(conn: psycopg.Connection[Any]) -> bool:
    """True when ``SELECT 1`` goes through on ``conn``: nothing else is sent, so a failure is safe to retry."""
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


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
