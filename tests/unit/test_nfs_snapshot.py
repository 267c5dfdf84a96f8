"""Unit tests of the nfs_snapshot module (plugins/modules/nfs_snapshot.py) with the snapshot contract's seal.

create/restore run rsync, which lab/bootstrap.sh installs on every development and CI machine.
"""
from __future__ import annotations

from pathlib import Path

import nfs_snapshot as snap
import pytest
from ansible.module_utils import bundle_snapshot as bs

TOOL_KEYS = {"name", "version"}


def make_tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "b.bin").write_bytes(b"\x00" * 1000)
    return root


def take(root: Path, sid: str, shares: list[dict[str, str]]) -> dict:
    """snapshot.yml's steps: begin (directory), create (files + checks), seal."""
    (root / sid).mkdir(parents=True, exist_ok=True)
    made = snap.create(root, sid, shares)
    return bs.seal(root, sid, service="nfs", release=sid, files=made["files"], checks=made["checks"], tool=made["tool"],
                   host="nfs1")[1]


@pytest.fixture
def one(tmp_path: Path) -> tuple[Path, Path, list[dict[str, str]]]:
    """A share, the snapshot root, and snapshot "one" of the share taken: (share, root, shares)."""
    share = make_tree(tmp_path / "share")
    root = tmp_path / "snaps"
    shares = [{"name": "documents", "path": str(share)}]
    take(root, "one", shares)
    return share, root, shares


def test_shares_are_checked() -> None:
    with pytest.raises(bs.SnapshotError, match="nfs_shares"):
        snap.check_shares([{"name": "docs", "path": "relative"}])
    with pytest.raises(bs.SnapshotError, match="nfs_shares"):
        snap.check_shares([{"name": "a/b", "path": "/srv"}])
    assert snap.check_shares([{"name": "docs", "path": "/srv/docs", "mode": "2770"}]) == [{"name": "docs", "path": "/srv/docs"}]


def test_share_checks_sum_the_shares() -> None:
    assert snap.share_checks({"a": {"files": 2, "bytes": 10}, "b": {"files": 1, "bytes": 5}}) == {
        "shares": {"a": {"files": 2, "bytes": 10}, "b": {"files": 1, "bytes": 5}}, "files": 3, "bytes": 15}


def test_create_is_incremental_and_sealed_under_the_contract(tmp_path: Path) -> None:
    share = make_tree(tmp_path / "share")
    root = tmp_path / "snaps"
    shares = [{"name": "documents", "path": str(share)}]
    meta = take(root, "one", shares)
    assert meta["checks"] == {"shares": {"documents": {"files": 2, "bytes": 1006}}, "files": 2, "bytes": 1006}
    assert meta["files"][0]["name"] == "documents.sha256" and meta["files"][0]["manifest_of"] == "shares/documents"
    assert set(meta["tool"]) == TOOL_KEYS and meta["tool"]["name"] == "rsync"
    assert bs.verify(root, "one") == meta
    assert snap.create(root, "one", shares)["changed"] is False  # a sealed id is left alone
    (root / "two").mkdir()
    assert snap.create(root, "two", shares)["previous"] == "one"
    first, second = root / "one" / "shares" / "documents" / "a.txt", root / "two" / "shares" / "documents" / "a.txt"
    assert first.stat().st_ino == second.stat().st_ino  # unchanged file: a hard link


def test_an_interrupted_create_is_completed_not_mixed(tmp_path: Path) -> None:
    share = make_tree(tmp_path / "share")
    root = tmp_path / "snaps"
    (root / "one" / "shares" / "documents").mkdir(parents=True)
    (root / "one" / "shares" / "documents" / "stale.txt").write_text("left by an interrupted run")
    meta = take(root, "one", [{"name": "documents", "path": str(share)}])
    assert not (root / "one" / "shares" / "documents" / "stale.txt").exists()
    assert meta["checks"]["files"] == 2


def test_restore_keeps_what_it_replaces(one: tuple[Path, Path, list[dict[str, str]]], tmp_path: Path) -> None:
    share, root, shares = one
    (share / "a.txt").write_text("changed\n")
    (share / "new.txt").write_text("new\n")
    (share / "sub" / "b.bin").unlink()
    assert snap.restore(root, "one", shares, check_mode=True)["changed"]
    assert (share / "new.txt").exists()  # check mode touches nothing
    result = snap.restore(root, "one", shares)
    assert result["changed"] and result["snapshot"]["id"] == "one"
    assert bs.build_manifest(share) == bs.parse_manifest((root / "one" / "documents.sha256").read_text())
    replaced = Path(result["replaced"])
    assert replaced.parent == root / ".replaced" and bs.stamp_time(replaced.name, "") is not None
    assert (replaced / "documents" / "a.txt").read_text() == "changed\n"
    assert (replaced / "documents" / "new.txt").read_text() == "new\n"
    assert ">f+++++++++ sub/b.bin" in (replaced / "documents.changes").read_text()
    assert not list(tmp_path.glob(".share.restore-*"))
    again = snap.restore(root, "one", shares)
    assert not again["changed"] and again["replaced"] == ""


def test_restore_without_keeping(one: tuple[Path, Path, list[dict[str, str]]], tmp_path: Path) -> None:
    share, root, shares = one
    (share / "a.txt").write_text("changed\n")
    result = snap.restore(root, "one", shares, keep_replaced=False)
    assert result["changed"] and result["replaced"] == "" and not (root / ".replaced").exists()


def test_restore_refuses_a_corrupted_snapshot_before_touching_the_share(one: tuple[Path, Path, list[dict[str, str]]], tmp_path: Path) -> None:
    share, root, shares = one
    victim = root / "one" / "shares" / "documents" / "sub" / "b.bin"
    data = bytearray(victim.read_bytes())
    data[500] ^= 1
    victim.write_bytes(bytes(data))
    (share / "a.txt").write_text("current\n")
    with pytest.raises(bs.SnapshotError, match="fails verification: shares/documents: changed sub/b.bin"):
        snap.restore(root, "one", shares)
    assert (share / "a.txt").read_text() == "current\n"
    assert not list(tmp_path.glob(".share.restore-*")) and not (root / ".replaced").exists()


def test_restore_refuses_an_unknown_share(one: tuple[Path, Path, list[dict[str, str]]]) -> None:
    share, root, _shares = one
    with pytest.raises(bs.SnapshotError, match="has no share other"):
        snap.restore(root, "one", [{"name": "other", "path": str(share)}])
    with pytest.raises(bs.SnapshotError, match="nothing to restore"):
        snap.restore(root, "one", [])
