"""A Redis snapshot's figures, read from the RDB file itself, shared by the redis role and the maintenance drill.

rdb_keyspace loads an RDB into a throwaway redis-server (no TCP port, a unix socket in a private temporary
directory, no persistence; the file is only read, through a symbolic link) and returns its keys per database;
mismatches compares a keyspace with the checks recorded in a snapshot's meta.json (keys with a TTL may have
expired since). Pure Python (standard library only): imported by plugins/modules/redis_snapshot.py and by the
maintenance program (roles/maintenance installs it beside it), unit-tested in tests/unit/.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping

KEYSPACE_RE = re.compile(r"^db(\d+):keys=(\d+),expires=(\d+)")


class RedisCheckError(Exception):
    """The RDB could not be loaded or read; the message says why."""


def parse_keyspace(text: str) -> dict[str, dict[str, int]]:
    """`INFO keyspace` output -> {"db0": {"keys": 3, "expires": 1}} (databases without keys are absent)."""
    databases: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        match = KEYSPACE_RE.match(line.strip())
        if match:
            databases[f"db{match.group(1)}"] = {"keys": int(match.group(2)), "expires": int(match.group(3))}
    return databases


def keyspace_checks(databases: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    return {"databases": {k: dict(v) for k, v in sorted(databases.items())}, "keys": sum(v["keys"] for v in databases.values())}


def mismatches(live: Mapping[str, Mapping[str, int]], checks: Mapping[str, Any]) -> list[str]:
    """Why the live keyspace is not the recorded one; keys with a TTL may have expired since the snapshot."""
    recorded: Mapping[str, Mapping[str, int]] = checks.get("databases", {})
    problems = []
    for db in sorted(set(recorded) | set(live)):
        want = recorded.get(db, {"keys": 0, "expires": 0})
        have = live.get(db, {"keys": 0, "expires": 0})["keys"]
        low, high = want["keys"] - want.get("expires", 0), want["keys"]
        if not low <= have <= high:
            expected = str(high) if low == high else f"{low}..{high} ({want.get('expires', 0)} with a TTL)"
            problems.append(f"{db}: {have} keys, the snapshot recorded {expected}")
    return problems


def redis_version(text: str) -> str:
    """`redis-server --version` -> 7.0.15."""
    match = re.search(r"v=(\S+)", text)
    return match.group(1) if match else "unknown"


def _cli(sock: Path, *args: str) -> str:
    proc = subprocess.run(["redis-cli", "-s", str(sock), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False, timeout=30)
    return proc.stdout


def rdb_keyspace(rdb: Path, timeout: int) -> dict[str, dict[str, int]]:
    """Keys per database of an RDB file, as a redis-server loading it reports them."""
    if not rdb.is_file():
        raise RedisCheckError(f"{rdb} is not a file")
    with tempfile.TemporaryDirectory(prefix="redis-snapshot-check-") as work:
        tmp = Path(work)
        os.symlink(rdb.resolve(), tmp / "dump.rdb")
        sock = tmp / "redis.sock"
        log = (tmp / "server.log").open("w")
        server = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700", "--dir", str(tmp),
             "--dbfilename", "dump.rdb", "--appendonly", "no", "--save", "", "--daemonize", "no", "--supervised", "no",
             "--logfile", "", "--maxmemory", "0"],
            stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if server.poll() is not None:
                    raise RedisCheckError(f"redis-server could not load {rdb}: {(tmp / 'server.log').read_text()[-2000:]}")
                if sock.exists() and _cli(sock, "PING").strip() == "PONG":
                    break
                if time.monotonic() > deadline:
                    raise RedisCheckError(f"redis-server did not load {rdb} within {timeout} s")
                time.sleep(0.2)
            return parse_keyspace(_cli(sock, "INFO", "keyspace"))
        finally:
            if server.poll() is None:
                _cli(sock, "SHUTDOWN", "NOSAVE")
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            log.close()
