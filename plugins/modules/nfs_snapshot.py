#!/usr/bin/python
"""Incremental, verifiable snapshots of NFS share directories (rsync --link-dest)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: nfs_snapshot
short_description: Create, restore, list and prune hard-linked snapshots of share directories
description:
  - C(create) copies every share into C(<root>/<id>/shares/<name>) with C(rsync -a --link-dest) against the
    newest earlier snapshot, so unchanged files are hard links and cost no space. It writes
    C(<name>.sha256) (sha256 per file) and C(meta.json) (id, time, files, bytes, checksum), in a
    C(.<id>.partial) directory renamed into place only when complete. An existing id is left alone.
  - C(restore) verifies the snapshot against its manifest in a staging directory next to the share,
    then syncs the share from that verified copy (C(rsync -a --delete --checksum)) and verifies the
    share against the manifest again. The share is never the target of an unverified copy.
  - C(list) returns the snapshots' metadata, oldest first. C(prune) removes the oldest snapshots beyond
    C(keep), never one whose id is in C(protected).
options:
  action: {description: What to do., required: true, type: str, choices: [create, restore, list, prune]}
  root: {description: Directory holding the snapshots., required: true, type: path}
  id: {description: "Snapshot id (letters, digits, '.', '_', '-'); for create and restore.", type: str}
  shares:
    description: Shares (name, path) to snapshot or restore; restore defaults to all shares of the snapshot.
    type: list
    elements: dict
    default: []
  keep: {description: Snapshots prune keeps (protected ones come on top)., type: int, default: 5}
  protected: {description: Ids prune never removes., type: list, elements: str, default: []}
requirements: [rsync on the target]
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Snapshot the shares
  nfs_snapshot:
    action: create
    root: /var/backups/bundle/nfs
    id: release-42
    shares: [{name: documents, path: /srv/nfs/documents}]
"""

RETURN = r"""
snapshot: {description: meta.json of the created or restored snapshot., returned: create, restore, type: dict}
snapshots: {description: Metadata of every snapshot, oldest first., returned: always, type: list}
removed: {description: Ids removed by prune., returned: prune, type: list}
"""

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule

ID_RE = re.compile(r"^[A-Za-z0-9._-]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class SnapshotError(Exception):
    """A snapshot operation cannot go on; the message says why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(tree: Path) -> dict[str, str]:
    """sha256 of every regular file under tree, by path relative to tree (symlinks: 'link:<target>')."""
    manifest: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
            full = Path(dirpath) / name
            rel = full.relative_to(tree).as_posix()
            if full.is_symlink():
                manifest[rel] = "link:" + os.readlink(full)
            elif full.is_file():
                manifest[rel] = sha256_file(full)
    return manifest


def manifest_text(manifest: dict[str, str]) -> str:
    """sha256sum-style text (`<hash>  <path>`), sorted by path."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(manifest.items()))


def parse_manifest(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            digest, rel = line.split("  ", 1)
            out[rel] = digest
    return out


def manifest_diff(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Human-readable differences (missing, extra, changed), empty when equal."""
    diff = [f"missing {p}" for p in sorted(expected.keys() - actual.keys())]
    diff += [f"unexpected {p}" for p in sorted(actual.keys() - expected.keys())]
    diff += [f"changed {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]]
    return diff


def tree_size(tree: Path) -> tuple[int, int]:
    """(regular files, bytes) under tree."""
    files = size = 0
    for dirpath, _dirs, filenames in os.walk(tree):
        for name in filenames:
            full = Path(dirpath) / name
            if full.is_file() and not full.is_symlink():
                files += 1
                size += full.stat().st_size
    return files, size


def list_snapshots(root: Path) -> list[dict[str, Any]]:
    """meta.json of each complete snapshot under root, oldest first (by created, then id)."""
    snaps: list[dict[str, Any]] = []
    if not root.is_dir():
        return snaps
    for child in root.iterdir():
        meta = child / "meta.json"
        if child.is_dir() and not child.name.startswith(".") and meta.is_file():
            snaps.append(json.loads(meta.read_text()))
    return sorted(snaps, key=lambda m: (m.get("created", ""), m.get("id", "")))


def prune_plan(snapshots: list[dict[str, Any]], keep: int, protected: list[str]) -> list[str]:
    """Ids to remove: all but the newest `keep`, never a protected one."""
    if keep < 0:
        raise SnapshotError("nfs_snapshot_keep must be >= 0")
    ids = [s["id"] for s in snapshots]
    kept = set(ids[-keep:]) if keep else set()
    return [i for i in ids if i not in kept and i not in set(protected)]


def check_id(snapshot_id: str | None) -> str:
    if not snapshot_id or not ID_RE.match(snapshot_id) or snapshot_id in (".", ".."):
        raise SnapshotError(f"nfs_snapshot_id must be made of letters, digits, '.', '_' or '-'; got {snapshot_id!r}")
    return snapshot_id


def check_shares(shares: list[dict[str, Any]]) -> list[dict[str, str]]:
    out = []
    for share in shares:
        name, path = str(share.get("name", "")), str(share.get("path", ""))
        if not NAME_RE.match(name) or not path.startswith("/"):
            raise SnapshotError(f"nfs_shares: each share needs a name ([A-Za-z0-9_-]+) and an absolute path; got {share!r}")
        out.append({"name": name, "path": path})
    return out


def rsync(args: list[str]) -> str:
    proc = subprocess.run(["rsync", "-aHS", "--numeric-ids", "--itemize-changes", *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SnapshotError(f"rsync {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def create(root: Path, snapshot_id: str, shares: list[dict[str, str]], now: str | None = None) -> tuple[bool, dict[str, Any]]:
    """Create snapshot `snapshot_id` (no-op when it exists). Returns (changed, meta)."""
    final = root / snapshot_id
    if (final / "meta.json").is_file():
        return False, json.loads((final / "meta.json").read_text())
    if final.exists():
        raise SnapshotError(f"{final} exists without meta.json (an interrupted snapshot?); remove it or pick another nfs_snapshot_id")
    previous = list_snapshots(root)
    prev_dir = root / previous[-1]["id"] if previous else None
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    partial = root / f".{snapshot_id}.partial"
    if partial.exists():
        shutil.rmtree(partial)
    (partial / "shares").mkdir(parents=True)
    meta: dict[str, Any] = {"id": snapshot_id, "created": now or datetime.datetime.now(datetime.timezone.utc).isoformat(),
                            "previous": previous[-1]["id"] if previous else None, "shares": {}}
    checksum = hashlib.sha256()
    for share in shares:
        src = Path(share["path"])
        if not src.is_dir():
            raise SnapshotError(f"share {share['name']}: {src} is not a directory")
        dest = partial / "shares" / share["name"]
        link = [f"--link-dest={prev_dir / 'shares' / share['name']}"] if prev_dir and (prev_dir / "shares" / share["name"]).is_dir() else []
        rsync([*link, f"{src}/", f"{dest}/"])
        manifest = build_manifest(dest)
        text = manifest_text(manifest)
        (partial / f"{share['name']}.sha256").write_text(text)
        files, size = tree_size(dest)
        digest = hashlib.sha256(text.encode()).hexdigest()
        checksum.update(f"{share['name']}:{digest}\n".encode())
        meta["shares"][share["name"]] = {"path": share["path"], "files": files, "bytes": size, "manifest": f"{share['name']}.sha256",
                                         "manifest_sha256": digest}
    meta["files"] = sum(s["files"] for s in meta["shares"].values())
    meta["size_bytes"] = sum(s["bytes"] for s in meta["shares"].values())
    meta["checksum"] = checksum.hexdigest()
    (partial / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    partial.rename(final)
    return True, meta


def restore(root: Path, snapshot_id: str, shares: list[dict[str, str]], check_mode: bool = False) -> tuple[bool, dict[str, Any]]:
    """Restore shares from snapshot `snapshot_id`, verified before and after. Returns (changed, meta)."""
    snap = root / snapshot_id
    if not (snap / "meta.json").is_file():
        raise SnapshotError(f"no snapshot {snapshot_id} under {root} (see snapshot_list.yml)")
    meta = json.loads((snap / "meta.json").read_text())
    wanted = shares or [{"name": n, "path": s["path"]} for n, s in meta["shares"].items()]
    changed = False
    for share in wanted:
        info = meta["shares"].get(share["name"])
        if info is None:
            raise SnapshotError(f"snapshot {snapshot_id} has no share {share['name']}")
        expected_text = (snap / info["manifest"]).read_text()
        if hashlib.sha256(expected_text.encode()).hexdigest() != info["manifest_sha256"]:
            raise SnapshotError(f"snapshot {snapshot_id}: manifest of {share['name']} does not match meta.json")
        expected = parse_manifest(expected_text)
        target = Path(share["path"])
        source = snap / "shares" / share["name"]
        if check_mode:
            changed = changed or bool(manifest_diff(expected, build_manifest(target)) if target.is_dir() else True)
            continue
        staging = target.parent / f".{target.name}.restore-{snapshot_id}"
        if staging.exists():
            shutil.rmtree(staging)
        # Staging next to the share: hard links into the snapshot when on the same filesystem, else a copy.
        rsync([f"--link-dest={source}", f"{source}/", f"{staging}/"])
        problems = manifest_diff(expected, build_manifest(staging))
        if problems:
            shutil.rmtree(staging)
            raise SnapshotError(f"snapshot {snapshot_id} of {share['name']} fails its manifest, share untouched: {'; '.join(problems[:10])}")
        target.mkdir(parents=True, exist_ok=True)
        changes = rsync(["--delete", "--checksum", f"{staging}/", f"{target}/"])
        changed = changed or bool(changes.strip())
        problems = manifest_diff(expected, build_manifest(target))
        if problems:
            raise SnapshotError(f"share {share['name']} differs from snapshot {snapshot_id} after restore "
                                f"(verified copy kept in {staging}): {'; '.join(problems[:10])}")
        shutil.rmtree(staging)
    return changed, meta


def prune(root: Path, keep: int, protected: list[str], check_mode: bool = False) -> list[str]:
    remove = prune_plan(list_snapshots(root), keep, protected)
    if not check_mode:
        for snapshot_id in remove:
            shutil.rmtree(root / snapshot_id)
    return remove


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["create", "restore", "list", "prune"]},
            "root": {"type": "path", "required": True},
            "id": {"type": "str"},
            "shares": {"type": "list", "elements": "dict", "default": []},
            "keep": {"type": "int", "default": 5},
            "protected": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    root = Path(params["root"])
    result: dict[str, Any] = {"changed": False}
    try:
        shares = check_shares(params["shares"])
        if params["action"] == "create":
            snapshot_id = check_id(params["id"])
            if not shares:
                raise SnapshotError("nfs_shares is empty: nothing to snapshot")
            if module.check_mode:
                result["changed"] = not (root / snapshot_id / "meta.json").is_file()
            else:
                result["changed"], result["snapshot"] = create(root, snapshot_id, shares)
        elif params["action"] == "restore":
            result["changed"], result["snapshot"] = restore(root, check_id(params["id"]), shares, module.check_mode)
        elif params["action"] == "prune":
            result["removed"] = prune(root, params["keep"], params["protected"], module.check_mode)
            result["changed"] = bool(result["removed"])
        result["snapshots"] = list_snapshots(root)
    except (SnapshotError, OSError) as exc:
        module.fail_json(msg=str(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
