"""Unit tests of the bundle_snapshot module (plugins/modules/bundle_snapshot.py): its actions as roles call them."""
from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.bundle_snapshot import SnapshotError
from ansible.module_utils.testing import patch_module_args

# Loaded by path: plugins/module_utils/bundle_snapshot.py has the same name and may be on sys.path too.
_SPEC = importlib.util.spec_from_file_location(
    "bundle_snapshot_module", Path(__file__).resolve().parents[2] / "plugins" / "modules" / "bundle_snapshot.py")
assert _SPEC and _SPEC.loader
module = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(module)

TOOL = {"name": "pg_dump", "version": "15.14"}


def params(**given: Any) -> dict[str, Any]:
    base = {"action": "list", "root": None, "service": "postgres", "id": None, "release": "", "files": [], "checks": {},
            "tool": {}, "host": None, "keep": None, "protected": [], "grace_hours": 24.0, "replaced_dir": None,
            "prefix": "", "keep_days": 7, "names": None}
    return {**base, **given}


def seal(root: Path, sid: str, check_mode: bool = False) -> dict[str, Any]:
    (root / sid).mkdir(parents=True, exist_ok=True)
    (root / sid / "app.dump").write_bytes(b"dump of " + sid.encode())
    return module.run(params(action="seal", root=str(root), id=sid, release="src-3f2a9c1b2d4e", files=["app.dump"],
                             checks={"database": "app", "tables": {"public.t": 3}, "rows": 3}, tool=TOOL, host="db1"), check_mode)


def test_status_then_seal_then_status(tmp_path: Path) -> None:
    assert module.run(params(action="status", root=str(tmp_path), id="rel-1"), False) == {"changed": False, "sealed": False, "snapshot": {}}
    result = seal(tmp_path, "rel-1")
    assert result["changed"] and result["snapshot"]["release"] == "src-3f2a9c1b2d4e" and result["snapshot"]["host"] == "db1"
    status = module.run(params(action="status", root=str(tmp_path), id="rel-1"), False)
    assert status["sealed"] and status["snapshot"] == result["snapshot"]
    assert seal(tmp_path, "rel-1") == {"changed": False, "snapshot": result["snapshot"]}


def test_seal_in_check_mode_writes_nothing(tmp_path: Path) -> None:
    assert seal(tmp_path, "rel-1", check_mode=True) == {"changed": True, "snapshot": {}}
    assert not (tmp_path / "rel-1" / "meta.json").exists()


def test_seal_without_host_records_the_machine(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "f").write_text("x")
    result = module.run(params(action="seal", root=str(tmp_path), id="r", files=["f"], tool=TOOL), False)
    assert result["snapshot"]["host"] == os.uname().nodename


def test_ids_are_refused_naming_the_roles_variable(tmp_path: Path) -> None:
    for action in ("status", "seal", "verify"):
        with pytest.raises(SnapshotError, match="^postgres_snapshot_id must match"):
            module.run(params(action=action, root=str(tmp_path), id="../etc"), False)
    with pytest.raises(SnapshotError, match="nfs_snapshot_id must match"):
        module.run(params(action="status", service="nfs", root=str(tmp_path), id=""), False)


def test_verify_fails_on_a_flipped_byte(tmp_path: Path) -> None:
    seal(tmp_path, "rel-1")
    assert module.run(params(action="verify", root=str(tmp_path), id="rel-1"), False)["snapshot"]["id"] == "rel-1"
    dump = tmp_path / "rel-1" / "app.dump"
    data = bytearray(dump.read_bytes())
    data[3] ^= 1
    dump.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="app.dump does not match its sha256 in meta.json"):
        module.run(params(action="verify", root=str(tmp_path), id="rel-1"), False)
    # A sealed snapshot that fails verification is an error for status too (snapshot_begin.yml stops there).
    with pytest.raises(SnapshotError, match="fails verification"):
        module.run(params(action="status", root=str(tmp_path), id="rel-1"), False)


def test_list_and_prune(tmp_path: Path) -> None:
    for sid in ("r1", "r2", "r3"):
        seal(tmp_path, sid)
    (tmp_path / "unsealed").mkdir()
    listed = module.run(params(action="list", root=str(tmp_path)), False)
    assert [s["id"] for s in listed["snapshots"]] == ["r3", "r2", "r1"]
    assert listed["unsealed"] == ["unsealed"] and listed["broken"] == []
    with pytest.raises(SnapshotError, match="postgres_snapshot_keep must be at least 1; got 0"):
        module.run(params(action="prune", root=str(tmp_path), keep=0), False)
    pruned = module.run(params(action="prune", root=str(tmp_path), keep=1, protected=["r1"]), False)
    assert pruned["changed"] and pruned["removed"] == ["r2"] and pruned["removed_unsealed"] == []
    assert [s["id"] for s in pruned["snapshots"]] == ["r3", "r1"]
    again = module.run(params(action="prune", root=str(tmp_path), keep=1, protected=["r1"]), False)
    assert not again["changed"]
    assert json.loads((tmp_path / "r1" / "meta.json").read_text())["id"] == "r1"


def test_replaced_prune_by_directory_and_by_names(tmp_path: Path) -> None:
    (tmp_path / "pre-restore-20200101000000").mkdir()
    (tmp_path / "pre-restore-29990101000000").mkdir()
    result = module.run(params(action="replaced_prune", service="redis", replaced_dir=str(tmp_path), prefix="pre-restore-"), False)
    assert result == {"changed": True, "expired": ["pre-restore-20200101000000"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pre-restore-29990101000000"]
    names = ["app__replaced_20200101000000", "app__replaced_29990101000000", "app"]
    chosen = module.run(params(action="replaced_prune", names=names, prefix="app__replaced_"), False)
    assert chosen == {"changed": False, "expired": ["app__replaced_20200101000000"]}
    with pytest.raises(SnapshotError, match="postgres_replaced_keep_days must be 0 or more"):
        module.run(params(action="replaced_prune", names=names, keep_days=-1), False)
    with pytest.raises(SnapshotError, match="needs replaced_dir or names"):
        module.run(params(action="replaced_prune"), False)


def test_root_is_required(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="redis_snapshot_root must be set"):
        module.run(params(action="list", service="redis"), False)


def main_result(args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run the module's main() as Ansible would, returning its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_main_seals_and_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rel-1").mkdir()
    (tmp_path / "rel-1" / "dump.rdb").write_bytes(b"REDIS0010")
    sealed = main_result({"action": "seal", "service": "redis", "root": str(tmp_path), "id": "rel-1", "files": ["dump.rdb"],
                          "checks": {"keys": 0, "databases": {}}, "tool": {"name": "redis-server", "version": "7.0.15"}}, capsys)
    assert sealed["changed"] and sealed["snapshot"]["service"] == "redis"
    failed = main_result({"action": "verify", "service": "redis", "root": str(tmp_path), "id": "rel-2"}, capsys)
    assert failed["failed"] and failed["msg"] == f"snapshot rel-2 in {tmp_path} does not exist; see the snapshot list"
