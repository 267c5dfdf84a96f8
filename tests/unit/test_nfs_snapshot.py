"""Unit tests of the nfs_snapshot module (plugins/modules/nfs_snapshot.py).

Manifest, listing and prune planning run everywhere; create/restore need rsync on the machine
running the tests and are skipped without it (the Molecule scenario runs them on the server).
"""
import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "modules"))
import nfs_snapshot as snap  # noqa: E402

needs_rsync = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync not installed here (exercised by molecule nfs)")


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(b"\x00" * 1000)
    return root


def test_manifest_round_trip(tmp_path):
    tree = make_tree(tmp_path / "share")
    manifest = snap.build_manifest(tree)
    assert set(manifest) == {"a.txt", "sub/b.bin"}
    assert manifest["a.txt"] == snap.sha256_file(tree / "a.txt")
    assert snap.parse_manifest(snap.manifest_text(manifest)) == manifest
    assert snap.tree_size(tree) == (2, 1006)


def test_manifest_diff():
    assert snap.manifest_diff({"a": "1", "b": "2"}, {"a": "1", "b": "2"}) == []
    assert snap.manifest_diff({"a": "1", "b": "2"}, {"a": "9", "c": "3"}) == ["missing b", "unexpected c", "changed a"]


def test_list_and_prune_plan(tmp_path):
    for i, sid in enumerate(["old", "mid", "new"]):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "meta.json").write_text(json.dumps({"id": sid, "created": f"2026-01-0{i + 1}T00:00:00"}))
    (tmp_path / ".x.partial").mkdir()
    (tmp_path / "incomplete").mkdir()
    snaps = snap.list_snapshots(tmp_path)
    assert [s["id"] for s in snaps] == ["old", "mid", "new"]
    assert snap.prune_plan(snaps, 1, ["old"]) == ["mid"]
    assert snap.prune_plan(snaps, 2, []) == ["old"]
    assert snap.prune_plan(snaps, 5, []) == []
    assert snap.prune(tmp_path, 1, ["old"]) == ["mid"]
    assert not (tmp_path / "mid").exists() and (tmp_path / "old").exists()


def test_ids_and_shares_are_checked():
    for bad in ["", "..", "a/b", "a b", None]:
        with pytest.raises(snap.SnapshotError, match="nfs_snapshot_id"):
            snap.check_id(bad)
    assert snap.check_id("release-1.2_3") == "release-1.2_3"
    with pytest.raises(snap.SnapshotError, match="nfs_shares"):
        snap.check_shares([{"name": "docs", "path": "relative"}])


@needs_rsync
def test_create_is_incremental_and_restore_verifies(tmp_path):
    share = make_tree(tmp_path / "share")
    root = tmp_path / "snaps"
    shares = [{"name": "documents", "path": str(share)}]
    changed, meta = snap.create(root, "one", shares)
    assert changed and meta["files"] == 2 and meta["size_bytes"] == 1006
    assert snap.create(root, "one", shares)[0] is False
    snap.create(root, "two", shares)
    first, second = root / "one" / "shares" / "documents" / "a.txt", root / "two" / "shares" / "documents" / "a.txt"
    assert first.stat().st_ino == second.stat().st_ino  # unchanged file: a hard link
    (share / "a.txt").write_text("changed\n")
    (share / "new.txt").write_text("new\n")
    (share / "sub" / "b.bin").unlink()
    changed, _ = snap.restore(root, "one", shares)
    assert changed
    assert snap.build_manifest(share) == snap.parse_manifest((root / "one" / "documents.sha256").read_text())
    assert not list(tmp_path.glob(".share.restore-*"))


@needs_rsync
def test_restore_refuses_a_corrupted_snapshot(tmp_path):
    share = make_tree(tmp_path / "share")
    root = tmp_path / "snaps"
    shares = [{"name": "documents", "path": str(share)}]
    snap.create(root, "one", shares)
    (root / "one" / "shares" / "documents" / "a.txt").write_text("bit rot\n")
    (share / "a.txt").write_text("current\n")
    with pytest.raises(snap.SnapshotError, match="fails its manifest, share untouched"):
        snap.restore(root, "one", shares)
    assert (share / "a.txt").read_text() == "current\n"
