"""Connection handling of docshare.db.Database with fake psycopg connections."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from docshare import db as dbmod


class FakeCursor:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn
        self.description: Any = None

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, params: Any = None) -> None:
        if self.conn.dies_after is not None:
            if self.conn.dies_after == 0:
                self.conn.dead = True
            self.conn.dies_after -= 1
        if self.conn.dead:
            self.conn.broken = True
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        self.conn.statements.append(sql)
        self.description = [("x",)] if sql.startswith("SELECT") else None

    def fetchall(self) -> list[tuple[int]]:
        return [(1,)]


class FakeConn:
    def __init__(self) -> None:
        self.dead = False
        self.dies_after: int | None = None  # statements answered before the server goes away
        self.closed = False
        self.broken = False
        self.statements: list[str] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


@pytest.fixture()
def conns(monkeypatch: pytest.MonkeyPatch) -> list[FakeConn]:
    made: list[FakeConn] = []

    def connect(*args: Any, **kwargs: Any) -> FakeConn:
        made.append(FakeConn())
        return made[-1]

    monkeypatch.setattr(dbmod, "connect", connect)
    return made


def test_connection_is_reused(conns: list[FakeConn]) -> None:
    database = dbmod.Database("postgresql://x@h/d")
    assert database.fetchone("SELECT 1") == (1,)
    assert database.fetchall("SELECT 1") == [(1,)]
    assert len(conns) == 1


def test_read_on_dead_kept_connection_is_retried(conns: list[FakeConn]) -> None:
    database = dbmod.Database("postgresql://x@h/d")
    database.fetchone("SELECT 1")
    conns[0].dead = True  # database restarted
    assert database.fetchone("SELECT 1") == (1,)
    assert len(conns) == 2 and conns[0].closed


def test_write_on_a_connection_that_died_while_idle_goes_to_a_new_one(conns: list[FakeConn]) -> None:
    """After a PostgreSQL restart the first write of each worker is served, not refused."""
    database = dbmod.Database("postgresql://x@h/d")
    database.fetchone("SELECT 1")
    conns[0].dead = True  # database restarted while the connection was idle
    assert database.execute("UPDATE documents SET name = 'x'") == []
    assert len(conns) == 2 and conns[0].closed
    assert conns[1].statements == ["UPDATE documents SET name = 'x'"]  # sent once, on the new connection


def test_write_whose_fate_is_unknown_is_not_retried(conns: list[FakeConn]) -> None:
    """The connection answers the ping, then dies with the write sent: it may have committed."""
    database = dbmod.Database("postgresql://x@h/d")
    database.fetchone("SELECT 1")
    conns[0].dies_after = 1  # the ping goes through, the write does not
    with pytest.raises(psycopg.OperationalError):
        database.execute("UPDATE documents SET name = 'x'")
    assert len(conns) == 1 and conns[0].closed
    assert database.execute("UPDATE documents SET name = 'x'") == []  # the next one reconnects
    assert len(conns) == 2


def test_a_write_while_the_database_is_down_is_refused(conns: list[FakeConn], monkeypatch: pytest.MonkeyPatch) -> None:
    database = dbmod.Database("postgresql://x@h/d")
    database.fetchone("SELECT 1")
    conns[0].dead = True

    def refuse(*args: Any, **kwargs: Any) -> FakeConn:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(dbmod, "connect", refuse)
    with pytest.raises(psycopg.OperationalError):
        database.execute("INSERT INTO documents DEFAULT VALUES")
    assert "INSERT INTO documents DEFAULT VALUES" not in conns[0].statements


def test_reads_are_not_pinged(conns: list[FakeConn]) -> None:
    database = dbmod.Database("postgresql://x@h/d")
    database.fetchone("SELECT 2")
    database.fetchone("SELECT 3")
    assert conns[0].statements == ["SELECT 2", "SELECT 3"]


def test_options_of_the_url_are_kept_with_the_statement_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    monkeypatch.setattr(dbmod.psycopg, "connect", lambda url, **kwargs: seen.update(url=url, **kwargs))
    dbmod.connect("postgresql://u:p@h/d?options=-csearch_path%3Dscratch", statement_timeout_ms=2000)
    assert seen["options"] == "-csearch_path=scratch -c statement_timeout=2000"
    seen.clear()
    dbmod.connect("postgresql://u:p@h/d", statement_timeout_ms=5)
    assert seen["options"] == "-c statement_timeout=5"
    seen.clear()
    dbmod.connect("postgresql://u:p@h/d")
    assert "options" not in seen
