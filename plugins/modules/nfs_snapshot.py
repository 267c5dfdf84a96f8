#!/usr/bin/python
"""Incremental, verifiable snapshots of NFS share directories (rsync --link-dest) under the bundle's snapshot contract."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: nfs_snapshot
short_description: Produce and restore hard-linked snapshots of share directories
description:
  - "C(create) copies every share into C(<root>/<id>/shares/<name>) with C(rsync -a --link-dest) against the
    newest sealed snapshot, so unchanged files are hard links and cost no space, and writes C(<name>.sha256)
    (sha256 per file). It returns the files and checks to seal (bundle_snapshot action=seal writes meta.json);
    a run interrupted before the seal is completed by running it again. A sealed id is left alone."
  - "C(restore) copies the verified snapshot into a staging directory next to the share and checks it against the
    manifest; only then syncs the share from it (C(rsync -a --delete --checksum)) and checks the share again. With
    C(keep_replaced), every file the restore overwrites or deletes is moved to C(<replaced_root>/<stamp>/<share>/)
    (rsync --backup) and C(<share>.changes) lists what the restore did. A share is never the target of an
    unverified copy."
options:
  action: {description: What to do., required: true, type: str, choices: [create, restore]}
  root: {description: Directory holding the snapshots., required: true, type: path}
  id: {description: "Snapshot id (bundle_snapshot's id rule).", required: true, type: str}
  shares:
    description: Shares (name, path) to snapshot or restore.
    type: list
    elements: dict
    default: []
  keep_replaced: {description: Keep what a restore replaces (restore)., type: bool, default: true}
  replaced_root: {description: "Where replaced data goes, one <stamp> directory per restore (default <root>/.replaced).", type: path}
requirements: [rsync on the target]
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Snapshot the shares
  nfs_snapshot:
    action: create
    root: /var/backups/bundle/nfs
    id: src-3f2a9c1b2d4e
    shares: [{name: documents, path: /srv/nfs/documents}]
"""

RETURN = r"""
files: {description: "Files to seal: the manifests, each {name, manifest_of}.", returned: create, type: list}
checks: {description: "Per share files and bytes, and totals.", returned: create, type: dict}
tool: {description: "{name: rsync, version}.", returned: create, type: dict}
previous: {description: Snapshot the unchanged files are hard-linked to (empty for a full copy)., returned: create, type: str}
replaced: {description: Where the replaced files were kept (empty when nothing was replaced or not kept)., returned: restore, type: str}
"""

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_snapshot import (
    SnapshotError, build_manifest, check_id, is_sealed, manifest_diff, manifest_text, parse_manifest, scan, stamp,
    tree_size, utc_now, verify,
)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")


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


def rsync_version() -> str:
    first = subprocess.run(["rsync", "--version"], stdout=subprocess.PIPE, text=True, check=False).stdout.split("\n", 1)[0]
    match = re.search(r"version\s+(\S+)", first)
    return match.group(1) if match else "unknown"


def share_checks(per_share: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """checks of meta.json: per share files and bytes (as taken), and the totals."""
    return {"shares": per_share, "files": sum(s["files"] for s in per_share.values()),
            "bytes": sum(s["bytes"] for s in per_share.values())}


def create(root: Path, snapshot_id: str, shares: list[dict[str, str]]) -> dict[str, Any]:
    """Copy the shares into <root>/<id>/ (incremental) with their manifests; the caller seals it."""
    if not shares:
        raise SnapshotError("nfs_shares is empty: nothing to snapshot")
    snapshot_id = check_id(snapshot_id, "nfs_snapshot_id")
    directory = root / snapshot_id
    if is_sealed(root, snapshot_id):
        return {"changed": False, "files": [], "checks": {}, "previous": ""}
    previous = next((s["id"] for s in scan(root).sealed if s["id"] != snapshot_id), "")
    (directory / "shares").mkdir(parents=True, exist_ok=True)
    per_share: dict[str, dict[str, Any]] = {}
    files: list[dict[str, str]] = []
    for share in shares:
        src = Path(share["path"])
        if not src.is_dir():
            raise SnapshotError(f"share {share['name']}: {src} is not a directory")
        dest = directory / "shares" / share["name"]
        linked = root / previous / "shares" / share["name"]
        link = [f"--link-dest={linked}"] if previous and linked.is_dir() else []
        # --delete: a run interrupted before the seal is completed, not mixed, by the next one.
        rsync([*link, "--delete", f"{src}/", f"{dest}/"])
        (directory / f"{share['name']}.sha256").write_text(manifest_text(build_manifest(dest)))
        count, size = tree_size(dest)
        per_share[share["name"]] = {"files": count, "bytes": size}
        files.append({"name": f"{share['name']}.sha256", "manifest_of": f"shares/{share['name']}"})
    return {"changed": True, "files": files, "checks": share_checks(per_share), "previous": previous,
            "tool": {"name": "rsync", "version": rsync_version()}}


def restore(root: Path, snapshot_id: str, shares: list[dict[str, str]], keep_replaced: bool = True,
            replaced_root: Path | None = None, check_mode: bool = False) -> dict[str, Any]:
    """Restore shares from a verified snapshot, checked before and after; keeps what it replaces."""
    meta = verify(root, snapshot_id, "nfs_snapshot_id")
    snap = root / snapshot_id
    recorded = meta["checks"].get("shares", {})
    if not shares:
        raise SnapshotError("nfs_shares is empty: nothing to restore")
    replaced = (replaced_root or root / ".replaced") / stamp(utc_now())
    changed, kept = False, False
    staged: list[tuple[dict[str, str], dict[str, str], Path]] = []
    try:
        # Every share is staged and verified before any share is touched.
        for share in shares:
            if share["name"] not in recorded:
                raise SnapshotError(f"snapshot {snapshot_id} has no share {share['name']}")
            expected = parse_manifest((snap / f"{share['name']}.sha256").read_text())
            target = Path(share["path"])
            if check_mode:
                changed = changed or bool(manifest_diff(expected, build_manifest(target)) if target.is_dir() else True)
                continue
            staging = target.parent / f".{target.name}.restore-{snapshot_id}"
            if staging.exists():
                shutil.rmtree(staging)
            staged.append((share, expected, staging))
            # Staging next to the share: hard links into the snapshot when on the same filesystem, else a copy.
            source = snap / "shares" / share["name"]
            rsync([f"--link-dest={source}", f"{source}/", f"{staging}/"])
            problems = manifest_diff(expected, build_manifest(staging))
            if problems:
                raise SnapshotError(f"snapshot {snapshot_id} of {share['name']} fails its manifest, share untouched: "
                                    f"{'; '.join(problems[:10])}")
    except BaseException:
        for _share, _expected, staging in staged:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    for share, expected, staging in staged:
        target = Path(share["path"])
        target.mkdir(parents=True, exist_ok=True)
        backup = ["--backup", f"--backup-dir={replaced / share['name']}"] if keep_replaced else []
        changes = rsync([*backup, "--delete", "--checksum", f"{staging}/", f"{target}/"])
        if changes.strip():
            changed = True
            if keep_replaced:
                replaced.mkdir(parents=True, exist_ok=True)
                (replaced / f"{share['name']}.changes").write_text(changes)
                kept = True
        problems = manifest_diff(expected, build_manifest(target))
        if problems:
            raise SnapshotError(f"share {share['name']} differs from snapshot {snapshot_id} after restore "
                                f"(verified copy kept in {staging}): {'; '.join(problems[:10])}")
        shutil.rmtree(staging)
    return {"changed": changed, "snapshot": meta, "replaced": str(replaced) if kept else ""}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["create", "restore"]},
            "root": {"type": "path", "required": True},
            "id": {"type": "str", "required": True},
            "shares": {"type": "list", "elements": "dict", "default": []},
            "keep_replaced": {"type": "bool", "default": True},
            "replaced_root": {"type": "path"},
        },
        supports_check_mode=True,
    )
    params = module.params
    root = Path(params["root"])
    try:
        shares = check_shares(params["shares"])
        if params["action"] == "create":
            if module.check_mode:
                result: dict[str, Any] = {"changed": not is_sealed(root, check_id(params["id"], "nfs_snapshot_id"))}
            else:
                result = create(root, params["id"], shares)
        else:
            replaced_root = Path(params["replaced_root"]) if params["replaced_root"] else None
            result = restore(root, params["id"], shares, params["keep_replaced"], replaced_root, module.check_mode)
    except (SnapshotError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
