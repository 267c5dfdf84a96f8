"""Assertions on the snapshot contract (docs/conventions.md#snapshots) shared by the data scenarios' tests."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from playbook import recap_changed, run_playbook

META_KEYS = {"schema", "id", "service", "release", "created", "host", "files", "size_bytes", "checks", "tool"}


def assert_meta(meta: dict[str, Any], *, service: str, snapshot_id: str, release: str, host: str, tool: str) -> None:
    """meta.json has exactly the schema's keys, these values, and was created in UTC within the last 5 minutes."""
    assert set(meta) == META_KEYS, sorted(meta)
    assert (meta["schema"], meta["id"], meta["service"], meta["release"], meta["host"]) == (1, snapshot_id, service, release, host)
    created = datetime.datetime.fromisoformat(meta["created"].replace("Z", "+00:00"))
    assert created.utcoffset() == datetime.timedelta(0)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 300
    assert meta["tool"]["name"] == tool and meta["tool"]["version"]


def assert_single_file(meta: dict[str, Any], name: str, file: Any) -> None:
    """The snapshot is one data file (a testinfra File) and meta.json: its name, real size and sha256."""
    assert meta["files"] == [{"name": name, "size": file.size, "sha256": file.sha256sum}]
    assert meta["size_bytes"] == file.size


def assert_sealed_id_unchanged(scenario: Path, host: Any, hostname: str, root: str, service: str, snapshot_id: str) -> None:
    """snapshot.yml with an id that is already sealed reports no change and leaves meta.json as it was."""
    before = host.file(f"{root}/{snapshot_id}/meta.json").sha256sum
    proc = run_playbook(scenario / "entrypoints.yml", {"entrypoint": "snapshot.yml", f"{service}_snapshot_id": snapshot_id})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert recap_changed(proc.stdout) == {hostname: 0}
    assert host.file(f"{root}/{snapshot_id}/meta.json").sha256sum == before
