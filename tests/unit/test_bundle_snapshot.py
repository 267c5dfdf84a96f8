"""Unit tests of the snapshot contract (plugins/module_utils/bundle_snapshot.py)."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import bundle_snapshot as bs

NOW = datetime.datetime(2026, 12, 1, 10, 44, tzinfo=datetime.timezone.utc)
TOOL = {"name": "redis-server", "version": "7.0.15"}


def produce(root: Path, sid: str, files: dict[str, bytes]) -> Path:
    directory = root / sid
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return directory


def sealed(root: Path, sid: str, minutes: int = 0, service: str = "redis") -> dict[str, Any]:
    produce(root, sid, {"dump.rdb": sid.encode()})
    return bs.seal(root, sid, service=service, release="", files=["dump.rdb"], checks={"keys": 1}, tool=TOOL, host="h",
                   now=NOW + datetime.timedelta(minutes=minutes))[1]


@pytest.mark.parametrize("good", ["src-3f2a9c1b2d4e", "snap-20261201T104400Z", "a", "1.2_3-x", "A" * 128])
def test_ids_that_are_accepted(good: str) -> None:
    assert bs.check_id(good) == good


@pytest.mark.parametrize("bad", ["", ".", "..", ".hidden", "-x", "_x", "a/b", "a b", "../etc", "A" * 129, "é", None, 12])
def test_ids_that_are_refused_name_the_variable(bad: Any) -> None:
    with pytest.raises(bs.SnapshotError, match=r"^redis_snapshot_id must match"):
        bs.check_id(bad, "redis_snapshot_id")


def test_times_and_stamps() -> None:
    assert bs.iso(NOW) == "2026-12-01T10:44:00.000000Z"
    assert bs.parse_created("2026-12-01T10:44:00.000000Z") == NOW
    assert bs.stamp(NOW) == "20261201104400"
    assert bs.stamp_time("app__replaced_20261201104400", "app__replaced_") == NOW
    assert bs.stamp_time("pre-restore-20261201T104400", "pre-restore-") == NOW
    assert bs.stamp_time("pre-restore-20261399104400", "pre-restore-") is None
    assert bs.stamp_time("other-20261201104400", "pre-restore-") is None
    with pytest.raises(ValueError):
        bs.parse_created("2026-12-01T10:44:00+02:00")
    with pytest.raises(ValueError):
        bs.parse_created(1234)


def test_seal_writes_meta_json_of_the_schema(tmp_path: Path) -> None:
    produce(tmp_path, "rel-1", {"dump.rdb": b"x" * 10, "extra/notes.txt": b"abc"})
    changed, meta = bs.seal(tmp_path, "rel-1", service="redis", release="src-3f2a9c1b2d4e", files=["dump.rdb"],
                            checks={"databases": {"db0": {"keys": 2, "expires": 0}}, "keys": 2}, tool=TOOL, host="redis1", now=NOW)
    assert changed
    on_disk = json.loads((tmp_path / "rel-1" / "meta.json").read_text())
    assert on_disk == meta
    assert list(meta) == list(bs.META_KEYS)
    assert meta["schema"] == 1 and meta["service"] == "redis" and meta["release"] == "src-3f2a9c1b2d4e"
    assert meta["created"] == "2026-12-01T10:44:00.000000Z" and meta["host"] == "redis1"
    assert meta["files"] == [{"name": "dump.rdb", "size": 10, "sha256": bs.sha256_file(tmp_path / "rel-1" / "dump.rdb")}]
    assert meta["size_bytes"] == 13  # every file of the snapshot, meta.json aside
    assert meta["tool"] == TOOL and bs.schema_problems(meta) == []
    assert oct((tmp_path / "rel-1" / "meta.json").stat().st_mode & 0o777) == "0o640"
    assert not list((tmp_path / "rel-1").glob(".meta.json.tmp-*"))


def test_a_sealed_id_is_verified_and_left_alone(tmp_path: Path) -> None:
    first = sealed(tmp_path, "rel-1")
    mtime = (tmp_path / "rel-1" / "meta.json").stat().st_mtime_ns
    changed, again = bs.seal(tmp_path, "rel-1", service="redis", release="other", files=["dump.rdb"], checks={}, tool=TOOL,
                             host="h2", now=NOW + datetime.timedelta(days=1))
    assert not changed and again == first
    assert (tmp_path / "rel-1" / "meta.json").stat().st_mtime_ns == mtime
    with pytest.raises(bs.SnapshotError, match="sealed for redis, not nfs"):
        bs.seal(tmp_path, "rel-1", service="nfs", release="", files=["dump.rdb"], checks={}, tool=TOOL, host="h")
    (tmp_path / "rel-1" / "dump.rdb").write_bytes(b"tampered")
    with pytest.raises(bs.SnapshotError, match="fails verification"):
        bs.seal(tmp_path, "rel-1", service="redis", release="", files=["dump.rdb"], checks={}, tool=TOOL, host="h")


@pytest.mark.parametrize("files, message", [
    (["missing.rdb"], "missing or not a regular file"),
    (["../outside"], "plain path relative"),
    (["/etc/passwd"], "plain path relative"),
    (["meta.json"], "plain path relative"),
    ([], "files must be a non-empty list"),
])
def test_seal_refuses_files_outside_or_missing(tmp_path: Path, files: list[str], message: str) -> None:
    produce(tmp_path, "rel-1", {"dump.rdb": b"x"})
    with pytest.raises(bs.SnapshotError, match=message):
        bs.seal(tmp_path, "rel-1", service="redis", release="", files=files, checks={}, tool=TOOL, host="h")
    assert not (tmp_path / "rel-1" / "meta.json").exists()


def test_seal_refuses_bad_inputs(tmp_path: Path) -> None:
    produce(tmp_path, "rel-1", {"dump.rdb": b"x"})
    with pytest.raises(bs.SnapshotError, match="service must be one of"):
        bs.seal(tmp_path, "rel-1", service="mysql", release="", files=["dump.rdb"], checks={}, tool=TOOL, host="h")
    with pytest.raises(bs.SnapshotError, match="redis_snapshot_release must be empty or match"):
        bs.seal(tmp_path, "rel-1", service="redis", release="bad release", files=["dump.rdb"], checks={}, tool=TOOL, host="h")
    with pytest.raises(bs.SnapshotError, match="tool must be"):
        bs.seal(tmp_path, "rel-1", service="redis", release="", files=["dump.rdb"], checks={}, tool={}, host="h")
    with pytest.raises(bs.SnapshotError, match="does not exist"):
        bs.seal(tmp_path, "rel-2", service="redis", release="", files=["dump.rdb"], checks={}, tool=TOOL, host="h")


def test_verify_names_what_differs(tmp_path: Path) -> None:
    sealed(tmp_path, "rel-1")
    assert bs.verify(tmp_path, "rel-1")["id"] == "rel-1"
    (tmp_path / "rel-1" / "dump.rdb").write_bytes(b"rel-2")  # same size, other bytes
    with pytest.raises(bs.SnapshotError, match="dump.rdb does not match its sha256"):
        bs.verify(tmp_path, "rel-1")
    (tmp_path / "rel-1" / "dump.rdb").write_bytes(b"longer!")
    with pytest.raises(bs.SnapshotError, match="dump.rdb has 7 bytes, meta.json says 5"):
        bs.verify(tmp_path, "rel-1")
    (tmp_path / "rel-1" / "dump.rdb").unlink()
    with pytest.raises(bs.SnapshotError, match="dump.rdb is missing"):
        bs.verify(tmp_path, "rel-1")
    (tmp_path / "half").mkdir()
    with pytest.raises(bs.SnapshotError, match="is unsealed"):
        bs.verify(tmp_path, "half")
    with pytest.raises(bs.SnapshotError, match="does not exist"):
        bs.verify(tmp_path, "nothing")


def test_verify_checks_a_manifested_tree(tmp_path: Path) -> None:
    tree = produce(tmp_path, "rel-1", {"shares/docs/a.txt": b"alpha", "shares/docs/sub/b.bin": b"\0" * 9}) / "shares" / "docs"
    (tmp_path / "rel-1" / "docs.sha256").write_text(bs.manifest_text(bs.build_manifest(tree)))
    bs.seal(tmp_path, "rel-1", service="nfs", release="", files=[{"name": "docs.sha256", "manifest_of": "shares/docs"}],
            checks={}, tool={"name": "rsync", "version": "3.2.7"}, host="h", now=NOW)
    assert bs.verify(tmp_path, "rel-1")["files"][0]["manifest_of"] == "shares/docs"
    (tree / "sub" / "b.bin").write_bytes(b"\1" + b"\0" * 8)
    (tree / "new.txt").write_text("x")
    with pytest.raises(bs.SnapshotError, match="shares/docs: unexpected new.txt; shares/docs: changed sub/b.bin"):
        bs.verify(tmp_path, "rel-1")
    with pytest.raises(bs.SnapshotError, match="not a directory of the snapshot"):
        bs.file_entry(tmp_path / "rel-1", "docs.sha256", "shares/none")


def test_schema_problems() -> None:
    assert bs.schema_problems([]) == ["meta.json must hold a JSON object"]
    assert "missing checks" in bs.schema_problems({k: None for k in bs.META_KEYS if k != "checks"})
    good = bs.build_meta(snapshot_id="a", service="nfs", release="", created=bs.iso(NOW), host="h",
                         files=[{"name": "f", "size": 1, "sha256": "0" * 64}], size_bytes=1, checks={}, tool=TOOL)
    assert bs.schema_problems(good) == []
    assert bs.schema_problems({**good, "extra": 1}) == ["unknown key extra"]
    assert bs.schema_problems({**good, "schema": 2}) == ["schema must be 1, got 2"]
    assert bs.schema_problems({**good, "files": [{"name": "f", "size": -1, "sha256": "x"}]}) == [
        "file 'f': size must be a byte count", "file 'f': sha256 must be 64 lower-case hex digits"]
    assert bs.schema_problems({**good, "files": [good["files"][0], good["files"][0]]}) == ["file names must be unique"]


def test_scan_lists_sealed_newest_first_and_tells_the_rest_apart(tmp_path: Path) -> None:
    sealed(tmp_path, "b-old", minutes=0)
    sealed(tmp_path, "a-new", minutes=5)
    sealed(tmp_path, "c-mid", minutes=2)
    (tmp_path / "half").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("{not json")
    (tmp_path / ".replaced").mkdir()
    (tmp_path / "file.txt").write_text("not a snapshot")
    found = bs.scan(tmp_path)
    assert [m["id"] for m in found.sealed] == ["a-new", "c-mid", "b-old"]
    assert [u.id for u in found.unsealed] == ["half"]
    assert [b.id for b in found.broken] == ["broken"] and "cannot be read as JSON" in found.broken[0].error
    assert bs.scan(tmp_path / "absent") == bs.Scan([], [], [])


def test_prune_plan_keeps_newest_unprotected_and_never_protected() -> None:
    snaps = [{"id": i} for i in ["e", "d", "c", "b", "a"]]  # newest first
    assert bs.prune_plan(snaps, 2, []) == ["c", "b", "a"]
    assert bs.prune_plan(snaps, 1, ["e", "a"]) == ["c", "b"]  # protected neither removed nor counted
    assert bs.prune_plan(snaps, 10, []) == []
    for keep in (0, -1, "2"):
        with pytest.raises(bs.SnapshotError, match="keep must be at least 1"):
            bs.prune_plan(snaps, keep, [])  # type: ignore[arg-type]


def test_unsealed_plan_waits_for_the_grace_period() -> None:
    now = NOW.timestamp()
    leftovers = [bs.Unsealed("old", now - 3 * 86400), bs.Unsealed("running", now - 60), bs.Unsealed("kept", now - 9 * 86400)]
    assert bs.unsealed_plan(leftovers, 24 * 3600, now, ["kept"]) == ["old"]


def test_prune_removes_what_the_plans_choose(tmp_path: Path) -> None:
    for minutes, sid in enumerate(["r1", "r2", "r3", "r4"]):
        sealed(tmp_path, sid, minutes=minutes)
    old = tmp_path / "interrupted"
    (old / "sub").mkdir(parents=True)
    os.utime(old / "sub", (0, 0))
    os.utime(old, (0, 0))
    (tmp_path / "running").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "meta.json").write_text("[]")
    plan = bs.prune(tmp_path, 1, ["r1"], 3600, now=NOW, check_mode=True)
    assert plan["removed"] == ["r3", "r2"] and plan["removed_unsealed"] == ["interrupted"]
    assert (tmp_path / "r2").exists()
    result = bs.prune(tmp_path, 1, ["r1"], 3600, now=NOW)
    assert result == plan and [b["id"] for b in result["broken"]] == ["broken"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "r1", "r4", "running"]


def test_replaced_plan_and_prune(tmp_path: Path) -> None:
    names = ["pre-restore-20261120000000", "pre-restore-20261130000000", "pre-restore-20261201T000000", "pre-restore-x", "other"]
    assert bs.replaced_plan(names, "pre-restore-", 7, now=NOW) == ["pre-restore-20261120000000"]
    assert bs.replaced_plan(names, "pre-restore-", 0, now=NOW) == sorted(names[:3])
    with pytest.raises(bs.SnapshotError, match="replaced_keep_days"):
        bs.replaced_plan(names, "pre-restore-", -1, now=NOW)
    for name in names:
        (tmp_path / name).mkdir()
    assert bs.replaced_prune(tmp_path, "pre-restore-", 7, now=NOW, check_mode=True) == ["pre-restore-20261120000000"]
    assert (tmp_path / "pre-restore-20261120000000").exists()
    assert bs.replaced_prune(tmp_path, "pre-restore-", 7, now=NOW) == ["pre-restore-20261120000000"]
    assert not (tmp_path / "pre-restore-20261120000000").exists() and (tmp_path / "other").exists()
    assert bs.replaced_prune(tmp_path / "absent", "", 7, now=NOW) == []


def test_manifests(tmp_path: Path) -> None:
    tree = produce(tmp_path, "t", {"a.txt": b"alpha\n", "sub/b.bin": b"\0" * 1000})
    (tree / "link").symlink_to("a.txt")
    manifest = bs.build_manifest(tree)
    assert manifest == {"a.txt": bs.sha256_file(tree / "a.txt"), "link": "link:a.txt", "sub/b.bin": bs.sha256_file(tree / "sub" / "b.bin")}
    assert bs.parse_manifest(bs.manifest_text(manifest)) == manifest
    assert bs.tree_size(tree) == (2, 1006)
    assert bs.manifest_diff({"a": "1", "b": "2"}, {"a": "9", "c": "3"}) == ["missing b", "unexpected c", "changed a"]


def test_write_json_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    bs.write_json_atomic(tmp_path / "meta.json", {"b": 1, "a": [1]})
    assert json.loads((tmp_path / "meta.json").read_text()) == {"a": [1], "b": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]
    with pytest.raises(TypeError):
        bs.write_json_atomic(tmp_path / "meta.json", {"x": object()})
    assert [p.name for p in tmp_path.iterdir()] == ["meta.json"]
