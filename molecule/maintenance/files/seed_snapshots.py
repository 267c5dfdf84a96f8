#!/usr/bin/python3
"""seed_snapshots.py ROOT:SERVICE[,ROOT:SERVICE...] ID[,ID...]: sealed snapshots for the prune test, oldest first.

Each id gets a snapshot directory under every root, sealed through the bundle's own snapshot contract
(bundle_snapshot.seal, installed beside the maintenance program) with `created` one hour apart, the last
one an hour ago: older than any snapshot a real playbook takes during the tests. Prune decides by meta.json
and the ledger, never by content, so each holds one small file. An id already sealed is left alone.
Prints {"changed": bool, "sealed": [...]} as JSON.
"""
from __future__ import annotations

import datetime
import json
import os
import socket
import sys
from pathlib import Path

sys.path.insert(0, "/usr/local/lib/bundle-maintenance")
import bundle_snapshot  # noqa: E402  (plugins/module_utils/bundle_snapshot.py, installed by roles/maintenance)


def main(argv: list[str]) -> int:
    roots = [item.split(":", 1) for item in argv[1].split(",")]
    ids = argv[2].split(",")
    now = datetime.datetime.now(datetime.timezone.utc)
    sealed = []
    for root, service in roots:
        # A service never snapshotted yet has no root: made as its role's first snapshot would (it sets the mode then).
        Path(root).mkdir(mode=0o700, parents=True, exist_ok=True)
        info = Path(root).stat()
        for age, snapshot_id in zip(range(len(ids), 0, -1), ids):
            directory = Path(root) / snapshot_id
            if bundle_snapshot.is_sealed(Path(root), snapshot_id):
                continue
            directory.mkdir(mode=0o750, exist_ok=True)
            (directory / "seed.txt").write_text(f"{service} {snapshot_id}\n")
            for path in (directory, directory / "seed.txt"):
                os.chown(path, info.st_uid, info.st_gid)
            bundle_snapshot.seal(Path(root), snapshot_id, service=service, release=snapshot_id, files=["seed.txt"], checks={},
                                 tool={"name": "maintenance-seed", "version": "1"}, host=socket.gethostname(),
                                 now=now - datetime.timedelta(hours=age))
            sealed.append(f"{service}:{snapshot_id}")
    print(json.dumps({"changed": bool(sealed), "sealed": sealed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
