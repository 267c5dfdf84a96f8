"""Unit tests of the maintenance program (roles/maintenance/files/bundle_maintenance.py): its decisions and
the jobs that need no service (prune of snapshot folders, the NFS drill), on temporary folders."""
from __future__ import annotations

import datetime
import fcntl
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bundle_maintenance", ROOT / "roles" / "maintenance" / "files" / "bundle_maintenance.py")
assert _spec and _spec.loader
bm = importlib.util.module_from_spec(_spec)
sys.modules["bundle_maintenance"] = bm
_spec.loader.exec_module(bm)
bs = bm.bundle_snapshot

NOW = datetime.datetime(2026, 12, 1, 10, 44, tzinfo=datetime.timezone.utc)
TOOL = {"name": "rsync", "version": "3.2.7"}


def config(tmp: Path, jobs: dict[str, Any] | None = None, wait: int = 10, **more: Any) -> dict[str, Any]:
    (tmp / "textfile").mkdir(exist_ok=True)
    return {"schema": 1, "host": "h1", "state_dir": str(tmp / "state"), "protected_file": str(tmp / "protected.json"),
            "lock": {"wait": wait, "marker_stale_after": 3600, "run_marker": str(tmp / "run.json"),
                     "job_marker": str(tmp / "run" / "maintenance.json"), "host_lock": str(tmp / "run" / "maintenance.lock")},
            "textfile": {"dir": str(tmp / "textfile"), "tmp": str(tmp / "textfile-tmp")}, "jobs": jobs or {}, **more}


class Clock:
    """A fake monotonic clock that sleeping advances; `on_sleep` runs at each sleep."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep(self.sleeps)


# --- the lock --------------------------------------------------------------------------------------

def test_run_marker_verdict() -> None:
    now = NOW.timestamp()
    assert bm.run_marker_verdict(None, now, 3600) == (False, "")
    marker = {"command": "deploy", "release": "src-1", "operator": "alice", "started": "2026-12-01T10:40:00Z"}
    assert bm.run_marker_verdict(marker, now, 3600) == (True, "deploy of src-1 by alice since 2026-12-01T10:40:00Z holds the lock")
    blocking, message = bm.run_marker_verdict(marker, now + 7200, 3600)
    assert not blocking and "treated as stale" in message and "maintenance_marker_stale_after" in message
    blocking, message = bm.run_marker_verdict({"command": "rollback"}, now, 3600, mtime=now - 10)
    assert blocking and message.startswith("rollback of ? by ? since ?")
    assert not bm.run_marker_verdict({"started": "garbage"}, now, 3600, mtime=now - 7200)[0]


def test_a_job_runs_when_nothing_holds_the_lock_and_leaves_no_marker(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    clock = Clock()
    with bm.exclusive(cfg, "prune", False, print, clock, clock.sleep):
        marker = json.loads(Path(cfg["lock"]["job_marker"]).read_text())
        assert marker["job"] == "prune" and marker["pid"] == os.getpid()
    assert not Path(cfg["lock"]["job_marker"]).exists() and clock.sleeps == 0


def test_a_deploy_marker_makes_the_job_wait_then_skip(tmp_path: Path) -> None:
    cfg = config(tmp_path, wait=12)
    Path(cfg["lock"]["run_marker"]).write_text(json.dumps({"command": "deploy", "release": "src-2", "operator": "bob",
                                                           "started": bm.iso(NOW.timestamp() + 10**9)}))
    clock, said = Clock(), []
    with pytest.raises(bm.Busy, match=r"^deploy of src-2 by bob since .* holds the lock; skipped$"):
        with bm.exclusive(cfg, "drill", False, said.append, clock, clock.sleep):
            pytest.fail("the job ran while a deploy held the lock")
    assert clock.sleeps >= 2 and said == ["waiting up to 12 s: " + said[0].split(": ", 1)[1]]
    assert not Path(cfg["lock"]["job_marker"]).exists(), "a waiting job must not look like a running one to the deploy"


def test_the_job_runs_once_the_deploy_is_over(tmp_path: Path) -> None:
    cfg = config(tmp_path, wait=60)
    run_marker = Path(cfg["lock"]["run_marker"])
    run_marker.write_text(json.dumps({"command": "snapshot", "started": bm.iso(NOW.timestamp() + 10**9)}))
    clock = Clock(on_sleep=lambda n: run_marker.unlink() if n == 3 else None)
    with bm.exclusive(cfg, "redis", False, print, clock, clock.sleep):
        assert Path(cfg["lock"]["job_marker"]).exists()
    assert clock.sleeps == 3


def test_lock_held_ignores_the_playbooks_own_marker_and_a_stale_one_does_not_block(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    Path(cfg["lock"]["run_marker"]).write_text(json.dumps({"command": "maintenance", "started": bm.iso(NOW.timestamp() + 10**9)}))
    clock = Clock()
    with bm.exclusive(cfg, "vacuum", True, print, clock, clock.sleep):
        pass
    Path(cfg["lock"]["run_marker"]).write_text(json.dumps({"command": "deploy", "started": "2020-01-01T00:00:00Z"}))
    said: list[str] = []
    with bm.exclusive(cfg, "vacuum", False, said.append, clock, clock.sleep):
        pass
    assert clock.sleeps == 0 and "treated as stale" in said[0]


def test_one_job_at_a_time_per_host(tmp_path: Path) -> None:
    cfg = config(tmp_path, wait=6)
    Path(cfg["lock"]["host_lock"]).parent.mkdir(parents=True)
    Path(cfg["lock"]["job_marker"]).write_text(json.dumps({"job": "drill", "pid": 4242, "started": "2026-12-01T10:00:00Z"}))
    holder = os.open(cfg["lock"]["host_lock"], os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        clock = Clock()
        with pytest.raises(bm.Busy, match=r"maintenance job drill \(pid 4242\) runs on this host since .*; skipped"):
            with bm.exclusive(cfg, "prune", True, print, clock, clock.sleep):
                pytest.fail("two jobs ran at once")
    finally:
        os.close(holder)
    assert json.loads(Path(cfg["lock"]["job_marker"]).read_text())["job"] == "drill", "the other job's marker is left alone"


# --- metrics and state -----------------------------------------------------------------------------

def test_textfile_format() -> None:
    text = bm.render_textfile([bm.Sample("bundle_maintenance_items", {"maintenance_job": "prune", "kind": "found"}, 3),
                               bm.Sample("bundle_snapshot_restorable", {"service": 'a"b'}, 1),
                               bm.Sample("bundle_maintenance_items", {"maintenance_job": "prune", "kind": "removed"}, 2.5)])
    assert text.count("# TYPE bundle_maintenance_items gauge") == 1
    assert 'bundle_maintenance_items{kind="found",maintenance_job="prune"} 3\n' in text
    assert 'bundle_maintenance_items{kind="removed",maintenance_job="prune"} 2.5\n' in text
    assert 'bundle_snapshot_restorable{service="a\\"b"} 1\n' in text


def test_samples_of_each_result() -> None:
    items = {"found": 2, "removed": 1, "quarantined": 0}
    ok = {s.name: s for s in bm.job_samples("prune", "success", 1000.4, 2.5, items, {})}
    assert ok["bundle_maintenance_last_success"].value == 1 and ok["bundle_maintenance_last_success_timestamp_seconds"].value == 1000
    assert ok["bundle_maintenance_last_run_timestamp_seconds"].labels == {"maintenance_job": "prune", "result": "success"}
    failed = {s.name: s for s in bm.job_samples("prune", "failed", 2000, 1, items, {"last_success_timestamp": 1000})}
    assert failed["bundle_maintenance_last_success"].value == 0
    assert failed["bundle_maintenance_last_success_timestamp_seconds"].value == 1000, "the last success stays known"
    skipped = {s.name: s for s in bm.job_samples("prune", "skipped", 3000, 0, items, {"last_success": 1, "last_success_timestamp": 1000})}
    assert skipped["bundle_maintenance_last_success"].value == 1, "a skip is not a failure"
    never = {s.name for s in bm.job_samples("prune", "skipped", 3000, 0, items, {})}
    assert "bundle_maintenance_last_success" not in never and "bundle_maintenance_last_success_timestamp_seconds" not in never
    state = bm.next_state({"last_success": 1, "last_success_timestamp": 1000}, "timeout", 2000, 5, items, "too long")
    assert state["last_success"] == 0 and state["last_success_timestamp"] == 1000 and state["last_result"] == "timeout"


# --- orphans ---------------------------------------------------------------------------------------

def test_expired_quarantine_folders() -> None:
    names = ["2026-11-01", "2026-11-17", "2026-11-30", "not-a-date", "2026-13-01"]
    assert bm.expired_quarantine(names, datetime.date(2026, 12, 1), 14) == ["2026-11-01"]
    assert bm.expired_quarantine(names, datetime.date(2026, 12, 1), 1) == ["2026-11-01", "2026-11-17"]


# container_env and container_exec as the role renders them from roles/app/vars/main.yml (__app_container_env/_exec).
ORPHANS = {"app": "docshare", "command": "python -m docshare.manage cleanup-orphans", "documents_host_dir": "/srv/nfs/documents",
           "documents_dir": "/srv/documents", "uid": 10001, "gid": 10001, "release_env_var": "DOCSHARE_RELEASE_ID", "min_age": 3600,
           "container_env": ["--volume", "/etc/docshare/app.env:/run/bundle/app.env:ro",
                             "--volume", "/usr/local/lib/bundle-app/env-exec:/run/bundle/env-exec:ro"],
           "container_exec": ["python3", "/run/bundle/env-exec", "/run/bundle/app.env"]}


def test_orphans_run_the_apps_command_in_the_running_release() -> None:
    release = {"image": "registry1:5000/docshare:src-1", "release": "src-1"}
    report = bm.orphans_argv(ORPHANS, release, False, "2026-12-01")
    assert report[:3] == ["docker", "run", "--rm"] and "--read-only" in report
    # The app's environment comes as the app role's containers get it: the env file read by env-exec, never --env-file.
    assert "--env-file" not in report and "/etc/docshare/app.env:/run/bundle/app.env:ro" in report
    assert "DOCSHARE_RELEASE_ID=src-1" in report and "/srv/nfs/documents:/srv/documents" in report
    tail = report[report.index("registry1:5000/docshare:src-1") + 1:]
    assert tail == ["python3", "/run/bundle/env-exec", "/run/bundle/app.env", "python", "-m", "docshare.manage", "cleanup-orphans",
                    "--verbose", "--min-age", "3600", "--dry-run"]
    delete = bm.orphans_argv(ORPHANS, release, True, "2026-12-01")
    assert delete[-2:] == ["--quarantine", "/srv/documents/.quarantine/2026-12-01"] and "--dry-run" not in delete


def test_orphans_refuse_a_configuration_without_the_apps_env_way() -> None:
    release = {"image": "docshare:src-1", "release": "src-1"}
    with pytest.raises(bm.JobError, match="container_env"):
        bm.orphans_argv({**ORPHANS, "container_env": []}, release, False, "2026-12-01")


def test_orphans_report_gives_host_paths() -> None:
    summary = {"orphan_files": 1, "orphan_rows": 1, "stale_uploads": 1, "removed_rows": 1, "quarantined_files": 2,
               "details": {"orphan_files": ["a" * 32 + ".txt"], "orphan_rows": [7], "stale_uploads": [".upload-x.part"],
                           "missing_files": {"7": "b" * 32 + ".pdf"}}}
    paths, items = bm.orphans_report(summary, "/srv/nfs/documents")
    assert paths["files without a row"] == ["/srv/nfs/documents/" + "a" * 32 + ".txt"]
    assert paths["rows without a file"] == ["row 7: /srv/nfs/documents/" + "b" * 32 + ".pdf is missing"]
    assert paths["abandoned uploads"] == ["/srv/nfs/documents/.upload-x.part"]
    assert items == {"found": 3, "removed": 1, "quarantined": 2}


def test_last_json_object() -> None:
    assert bm.last_json_object('log line\n{"a": 1}\n{"b": 2}\n') == {"b": 2}
    with pytest.raises(bm.JobError, match="no JSON summary"):
        bm.last_json_object("Traceback ...\n")


# --- prune -----------------------------------------------------------------------------------------

def protected_doc(**entries: str) -> dict[str, Any]:
    return {"schema": 1, "written": "2026-12-01T10:00:00Z", "by": "deploy",
            "releases": [{"release": r, "why": w, "snapshot_id": r, "until": "2026-12-05T00:00:00Z" if w.startswith("bad") else ""}
                         for r, w in entries.items()]}


def test_protected_ids_let_old_bad_releases_go() -> None:
    doc = protected_doc(live1="current", good1="last good", bad1="bad, kept for inspection")
    doc["releases"].append({"release": "rel-x", "why": "live", "snapshot_id": "pre-x", "until": ""})
    keep, why = bm.protected_ids(doc, NOW.timestamp())
    assert keep == {"live1", "good1", "bad1", "rel-x", "pre-x"}
    assert any("until 2026-12-05" in w for w in why)
    keep, why = bm.protected_ids(doc, NOW.timestamp() + 10 * 86400)
    assert "bad1" not in keep and any("no longer kept" in w for w in why)
    with pytest.raises(bm.JobError):
        bm.protected_ids({"releases": "x"}, 0)


def seal_nfs(root: Path, sid: str, minutes: int, files: dict[str, bytes]) -> dict[str, Any]:
    share = root / sid / "shares" / "documents"
    share.mkdir(parents=True)
    for name, data in files.items():
        (share / name).write_bytes(data)
    (root / sid / "documents.sha256").write_text(bs.manifest_text(bs.build_manifest(share)))
    count, size = bs.tree_size(share)
    checks = {"shares": {"documents": {"files": count, "bytes": size}}, "files": count, "bytes": size}
    return bs.seal(root, sid, service="nfs", release="", files=[{"name": "documents.sha256", "manifest_of": "shares/documents"}],
                   checks=checks, tool=TOOL, host="nfs1", now=NOW + datetime.timedelta(minutes=minutes))[1]


def test_prune_keeps_newest_and_protected_and_records_metrics(tmp_path: Path) -> None:
    root = tmp_path / "nfs"
    for minutes, sid in enumerate(["rolled", "bad-old", "good-a", "good-b", "bad-new", "live", "snap-1"]):
        seal_nfs(root, sid, minutes, {"a.txt": sid.encode()})
    (root / ".replaced" / "20200101000000").mkdir(parents=True)
    svc = {"service": "nfs", "root": str(root), "replaced": {"dir": str(root / ".replaced"), "prefix": "", "keep_days": 7}}
    doc = protected_doc(**{"good-b": "last good", "live": "live", "bad-new": "bad, kept for inspection"})
    doc["releases"][2]["until"] = bm.iso(NOW.timestamp() + 86400 * 365 * 10)
    cfg = config(tmp_path, {"prune": {"keep_snapshots": 1, "snapshots": [svc], "timeout": 60}}, protected=doc)
    assert bm.run_job(cfg, "prune", bm.Options(lock_held=True, dry_run=True), as_json=False) == 0
    assert len(bs.scan(root).sealed) == 7 and not (tmp_path / "state").exists(), "a dry run changes nothing"
    assert bm.run_job(cfg, "prune", bm.Options(lock_held=True), as_json=False) == 0
    assert sorted(s["id"] for s in bs.scan(root).sealed) == ["bad-new", "good-b", "live", "snap-1"]
    assert not (root / ".replaced" / "20200101000000").exists()
    metrics = (tmp_path / "textfile" / "maintenance_prune.prom").read_text()
    assert 'bundle_maintenance_last_success{maintenance_job="prune"} 1' in metrics
    assert 'bundle_maintenance_items{kind="removed",maintenance_job="prune"} 4' in metrics
    state = json.loads((tmp_path / "state" / "prune.json").read_text())
    assert state["last_result"] == "success" and any("removed 3: good-a bad-old rolled" in line for line in state["report"])


def test_prune_refuses_without_the_ledgers_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, {"prune": {"keep_snapshots": 1, "snapshots": [], "timeout": 60}})
    assert bm.run_job(cfg, "prune", bm.Options(lock_held=True), as_json=True) == bm.EXIT_FAILED
    result = json.loads(capsys.readouterr().out)
    assert result["result"] == "failed" and "no protected list" in result["error"]
    assert 'bundle_maintenance_last_success{maintenance_job="prune"} 0' in (tmp_path / "textfile" / "maintenance_prune.prom").read_text()


# --- drill, vacuum, redis --------------------------------------------------------------------------

def test_count_mismatches() -> None:
    assert bm.count_mismatches({"public.documents": 3}, {"public.documents": 3}) == []
    assert bm.count_mismatches({}, {"public.documents": 3}) == ["public.documents: missing (recorded 3)"]
    assert bm.count_mismatches({"db0": 8}, {"db0": 10}, {"db0": 2}) == []
    assert bm.count_mismatches({"db0": 7}, {"db0": 10}, {"db0": 2}) == ["db0: 7, recorded 10 (at least 8)"]
    assert bm.count_mismatches({"db0": 11}, {"db0": 10}) == ["db0: 11, recorded 10"]
    assert bm.count_mismatches({"db0": 1, "db1": 4}, {"db0": 1}) == ["db1: 4, not in the snapshot"]


def test_redis_and_postgres_parsers() -> None:
    info = bm.parse_info("# Persistence\r\nloading:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\n")
    assert info == {"loading": "0", "rdb_last_bgsave_status": "ok", "aof_enabled": "1"}
    stats = bm.table_stats([["public.documents", "80", "40", "8192"], ["public.tags", "10", "1", "100"]])
    assert bm.bloated(stats, 0.2) == ["public.documents"]
    assert bm.quote_ident('we"ird') == '"we""ird"' and bm.quote_literal("it's") == "'it''s'"


def test_nfs_drill_restores_and_verifies_then_a_corrupt_snapshot_is_not_restorable(tmp_path: Path) -> None:
    root = tmp_path / "nfs"
    seal_nfs(root, "old", 0, {"a.txt": b"old"})
    seal_nfs(root, "new", 1, {"a.txt": b"hello", "b.bin": b"\0" * 100})
    cfg = config(tmp_path, {"drill": {"scratch_dir": str(tmp_path / "scratch"), "services": [{"service": "nfs", "root": str(root)}],
                                      "timeout": 60}})
    assert bm.run_job(cfg, "drill", bm.Options(lock_held=True), as_json=False) == 0
    metrics = (tmp_path / "textfile" / "snapshot_nfs.prom").read_text()
    assert 'bundle_snapshot_restorable{service="nfs",snapshot="new"} 1' in metrics
    assert f'bundle_snapshot_last_timestamp_seconds{{service="nfs"}} {int((NOW + datetime.timedelta(minutes=1)).timestamp())}' in metrics
    assert list((tmp_path / "scratch").iterdir()) == [], "the scratch copy is removed"
    (root / "new" / "shares" / "documents" / "a.txt").write_bytes(b"hellO")
    assert bm.run_job(cfg, "drill", bm.Options(lock_held=True), as_json=False) == bm.EXIT_FAILED
    assert 'bundle_snapshot_restorable{service="nfs",snapshot="new"} 0' in (tmp_path / "textfile" / "snapshot_nfs.prom").read_text()
    assert 'bundle_maintenance_last_success{maintenance_job="drill"} 0' in (tmp_path / "textfile" / "maintenance_drill.prom").read_text()


def test_drill_without_snapshots_is_a_failure(tmp_path: Path) -> None:
    record, lines = bm.drill_one({"service": "redis", "root": str(tmp_path / "none")}, tmp_path, False)
    assert record["restorable"] == 0 and "no sealed snapshot" in record["error"] and "FAILED" in lines[0]


# --- systemd's end of a run --------------------------------------------------------------------------

def test_finalize_records_a_run_systemd_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(tmp_path)
    marker = Path(cfg["lock"]["job_marker"])
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"job": "vacuum", "pid": 1, "started": bm.iso(NOW.timestamp())}))
    monkeypatch.setenv("SERVICE_RESULT", "success")
    assert bm.finalize(cfg, "vacuum") == 0 and marker.exists(), "a successful run has nothing to record"
    monkeypatch.setenv("SERVICE_RESULT", "timeout")
    assert bm.finalize(cfg, "vacuum") == 0 and not marker.exists()
    metrics = (tmp_path / "textfile" / "maintenance_vacuum.prom").read_text()
    assert 'bundle_maintenance_last_success{maintenance_job="vacuum"} 0' in metrics and 'result="timeout"' in metrics


def test_a_job_not_configured_here_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(tmp_path)))
    assert bm.main(["vacuum", "--config", str(path)]) == bm.EXIT_USAGE


def test_a_job_longer_than_its_timeout_is_stopped_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def endless(cfg: Any, opts: Any, log: Any) -> Any:
        time.sleep(30)

    monkeypatch.setitem(bm.JOB_FUNCTIONS, "vacuum", endless)
    cfg = config(tmp_path, {"vacuum": {"timeout": 1}})
    started = time.monotonic()
    assert bm.run_job(cfg, "vacuum", bm.Options(), as_json=True) == bm.EXIT_FAILED
    assert time.monotonic() - started < 10
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["result"] == "timeout" and "maintenance_vacuum_timeout" in result["error"]
    metrics = (tmp_path / "textfile" / "maintenance_vacuum.prom").read_text()
    assert 'result="timeout"' in metrics and 'bundle_maintenance_last_success{maintenance_job="vacuum"} 0' in metrics
    assert not Path(cfg["lock"]["job_marker"]).exists(), "the job's marker goes with it"
