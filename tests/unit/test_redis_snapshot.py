"""Unit tests of the pure parts of plugins/modules/redis_snapshot.py (loading an RDB is exercised by molecule redis)."""
from __future__ import annotations

import redis_snapshot as mod

INFO = """# Keyspace\r
db0:keys=26,expires=1,avg_ttl=3599000\r
db2:keys=1,expires=0,avg_ttl=0\r
"""


def test_parse_keyspace() -> None:
    assert mod.parse_keyspace(INFO) == {"db0": {"keys": 26, "expires": 1}, "db2": {"keys": 1, "expires": 0}}
    assert mod.parse_keyspace("# Keyspace\n") == {}


def test_checks_from_the_keyspace() -> None:
    assert mod.keyspace_checks(mod.parse_keyspace(INFO)) == {
        "databases": {"db0": {"keys": 26, "expires": 1}, "db2": {"keys": 1, "expires": 0}}, "keys": 27}
    assert mod.keyspace_checks({}) == {"databases": {}, "keys": 0}


def test_mismatches_allow_only_expired_keys() -> None:
    checks = mod.keyspace_checks(mod.parse_keyspace(INFO))
    assert mod.mismatches(mod.parse_keyspace(INFO), checks) == []
    # The key with a TTL may have expired since the snapshot; nothing else may be missing.
    assert mod.mismatches({"db0": {"keys": 25, "expires": 0}, "db2": {"keys": 1, "expires": 0}}, checks) == []
    assert mod.mismatches({"db0": {"keys": 24, "expires": 0}, "db2": {"keys": 1, "expires": 0}}, checks) == [
        "db0: 24 keys, the snapshot recorded 25..26 (1 with a TTL)"]
    assert mod.mismatches({"db0": {"keys": 26, "expires": 1}}, checks) == ["db2: 0 keys, the snapshot recorded 1"]
    assert mod.mismatches({**mod.parse_keyspace(INFO), "db5": {"keys": 1, "expires": 0}}, checks) == [
        "db5: 1 keys, the snapshot recorded 0"]


def test_redis_version() -> None:
    assert mod.redis_version("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=1") == "7.0.15"
    assert mod.redis_version("garbage") == "unknown"
