#!/usr/bin/python
"""The snapshot contract for roles: status, seal, verify, list, prune, replaced_prune (module_utils/bundle_snapshot.py)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_snapshot
short_description: Seal, verify, list and prune snapshots under the bundle's snapshot contract
description:
  - "A snapshot is C(<root>/<id>/) with the files a role produced and C(meta.json) (schema 1: id, service, release,
    created, host, files with size and sha256, size_bytes, checks, tool), written last and atomically.
    The contract is documented in docs/conventions.md (Snapshots); roles call it through roles/common's snapshot_*.yml."
  - "C(status): whether C(id) is sealed (then verified: a sealed snapshot that fails verification is an error)."
  - "C(seal): write meta.json for C(files) (produced by the role in C(<root>/<id>/)) with the service's C(checks);
    an id that is already sealed is verified and left alone (changed false)."
  - "C(verify): check every file (and every manifested tree) against meta.json; fails naming what differs."
  - "C(list): sealed snapshots newest first (by created), plus unsealed and broken directories."
  - "C(prune): keep the C(keep) newest unprotected sealed snapshots; ids in C(protected) are never removed nor counted;
    unsealed directories are removed only when idle for more than C(grace_hours); broken ones are only reported."
  - "C(replaced_prune): data kept by restores, named C(<prefix><yyyymmddhhmmss>), older than C(keep_days):
    removed from C(replaced_dir), or with C(names) only chosen (the caller removes them, e.g. databases)."
options:
  action:
    description: What to do.
    required: true
    type: str
    choices: [status, seal, verify, list, prune, replaced_prune]
  root: {description: Directory holding the snapshots (not needed by replaced_prune)., type: path}
  service:
    description: Service of the snapshots; also names the role's variables in messages (redis_snapshot_id, ...).
    type: str
    choices: [postgres, redis, nfs]
    required: true
  id: {description: Snapshot id (status, seal, verify)., type: str}
  release: {description: Release the snapshot is bound to (seal); empty for none., type: str, default: ""}
  files:
    description: Files of the snapshot, relative to C(<root>/<id>/) (seal); a dict C({name, manifest_of}) marks a sha256 manifest of a directory.
    type: list
    elements: raw
    default: []
  checks: {description: Service-specific figures a restore is verified against (seal)., type: dict, default: {}}
  tool: {description: "C({name, version}) of the tool that produced the data (seal).", type: dict, default: {}}
  host: {description: Host recorded in meta.json (seal); default the machine's host name., type: str}
  keep: {description: Newest unprotected sealed snapshots prune keeps (>= 1)., type: int}
  protected: {description: Ids prune never removes nor counts., type: list, elements: str, default: []}
  grace_hours: {description: Hours an unsealed directory must be idle before prune removes it., type: float, default: 24}
  replaced_dir: {description: Directory holding replaced data (replaced_prune)., type: path}
  prefix: {description: Name prefix of replaced data before its stamp (replaced_prune)., type: str, default: ""}
  keep_days: {description: Days replaced data is kept (replaced_prune)., type: int, default: 7}
  names: {description: With replaced_prune, choose among these names instead of removing directories., type: list, elements: str}
author: bundle maintainers
"""

EXAMPLES = r"""
- name: Seal the snapshot
  bundle_snapshot:
    action: seal
    service: redis
    root: /var/backups/bundle/redis
    id: src-3f2a9c1b2d4e
    release: src-3f2a9c1b2d4e
    files: [dump.rdb]
    checks: {databases: {db0: {keys: 12, expires: 0}}, keys: 12}
    tool: {name: redis-server, version: 7.0.15}
"""

RETURN = r"""
snapshot: {description: "meta.json of the snapshot (status when sealed, seal, verify).", returned: "status, seal, verify", type: dict}
sealed: {description: Whether the id is sealed., returned: status, type: bool}
snapshots: {description: "meta.json of every sealed snapshot, newest first.", returned: "list, prune", type: list}
unsealed: {description: Ids of directories without meta.json., returned: list, type: list}
broken: {description: "Directories whose meta.json is unreadable or breaks the schema ({id, error}).", returned: "list, prune", type: list}
removed: {description: Sealed ids removed by prune., returned: prune, type: list}
removed_unsealed: {description: Unsealed ids removed by prune., returned: prune, type: list}
expired: {description: Replaced data older than keep_days (removed unless names were given)., returned: replaced_prune, type: list}
"""

import socket
from pathlib import Path
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.bundle_snapshot import (
    SnapshotError, check_id, is_sealed, prune, replaced_plan, replaced_prune, scan, seal, verify,
)


def replaced(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """replaced_prune: data kept by restores, older than keep_days."""
    service = params["service"]
    if params.get("keep_days") is None or params["keep_days"] < 0:
        raise SnapshotError(f"{service}_replaced_keep_days must be 0 or more; got {params.get('keep_days')!r}")
    if params.get("names") is not None:
        return {"changed": False, "expired": replaced_plan(params["names"], params["prefix"], params["keep_days"])}
    if not params.get("replaced_dir"):
        raise SnapshotError("replaced_prune needs replaced_dir or names")
    expired = replaced_prune(Path(params["replaced_dir"]), params["prefix"], params["keep_days"], check_mode=check_mode)
    return {"changed": bool(expired), "expired": expired}


def run(params: dict[str, Any], check_mode: bool) -> dict[str, Any]:
    """The module's work without AnsibleModule (unit-tested); SnapshotError on refusal."""
    action, service = params["action"], params["service"]
    if action == "replaced_prune":
        return replaced(params, check_mode)
    if not params.get("root"):
        raise SnapshotError(f"{service}_snapshot_root must be set")
    root = Path(params["root"])
    variable = f"{service}_snapshot_id"
    if action == "list":
        found = scan(root)
        return {"changed": False, "snapshots": found.sealed, "unsealed": [u.id for u in found.unsealed],
                "broken": [b._asdict() for b in found.broken]}
    if action == "prune":
        keep = params.get("keep")
        if not isinstance(keep, int) or keep < 1:
            raise SnapshotError(f"{service}_snapshot_keep must be at least 1; got {keep!r}")
        result = prune(root, keep, params["protected"], params["grace_hours"] * 3600, check_mode=check_mode)
        result["changed"] = bool(result["removed"] or result["removed_unsealed"])
        result["snapshots"] = scan(root).sealed
        return result
    snapshot_id = check_id(params.get("id"), variable)
    if action == "status":
        sealed = is_sealed(root, snapshot_id)
        return {"changed": False, "sealed": sealed, "snapshot": verify(root, snapshot_id, variable) if sealed else {}}
    if action == "verify":
        return {"changed": False, "snapshot": verify(root, snapshot_id, variable)}
    # seal
    if check_mode and not is_sealed(root, snapshot_id):
        return {"changed": True, "snapshot": {}}
    changed, meta = seal(root, snapshot_id, service=service, release=params.get("release") or "", files=params["files"],
                         checks=params["checks"], tool=params["tool"], host=params.get("host") or socket.gethostname())
    return {"changed": changed, "snapshot": meta}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "action": {"type": "str", "required": True, "choices": ["status", "seal", "verify", "list", "prune", "replaced_prune"]},
            "root": {"type": "path"},
            "service": {"type": "str", "required": True, "choices": ["postgres", "redis", "nfs"]},
            "id": {"type": "str"},
            "release": {"type": "str", "default": ""},
            "files": {"type": "list", "elements": "raw", "default": []},
            "checks": {"type": "dict", "default": {}},
            "tool": {"type": "dict", "default": {}},
            "host": {"type": "str"},
            "keep": {"type": "int"},
            "protected": {"type": "list", "elements": "str", "default": []},
            "grace_hours": {"type": "float", "default": 24},
            "replaced_dir": {"type": "path"},
            "prefix": {"type": "str", "default": ""},
            "keep_days": {"type": "int", "default": 7},
            "names": {"type": "list", "elements": "str"},
        },
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except (SnapshotError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
