#!/usr/bin/python3
"""bundle-maintenance: the bundle's scheduled maintenance jobs, one subcommand per job.

  bundle-maintenance JOB [--lock-held] [--delete] [--dry-run] [--json] [--config FILE|-]
  bundle-maintenance status           the last result of every job on this host
  bundle-maintenance finalize JOB     (the unit's ExecStopPost) record a run systemd ended: timeout, crash

Jobs: orphans (documents without rows and rows without documents, through the app's own command),
prune (snapshots and app images beyond keep N, never what the release ledger protects), vacuum
(PostgreSQL VACUUM (ANALYZE) and a size/bloat report), redis (BGSAVE and AOF rewrite work, age of
the last save), drill (restore the newest snapshot of each service into a scratch place and verify
it against what was recorded when it was taken).

The same code runs from the systemd timer bundle-maintenance-<job>.timer and from
playbooks/maintenance.yml (--lock-held: the playbook holds the environment's deploy lock). Without
--lock-held the job waits while /var/lib/bundle/run.json says a deploy, rollback, snapshot or
maintenance playbook holds the lock, and skips after `lock.wait` seconds. One job at a time per host
(a flock); while it runs, /run/bundle/maintenance.json names it (a deploy's preflight waits for it).

Every run writes its result to the journal, to node exporter's textfile collector
(maintenance_<job>.prom; the drill also snapshot_<service>.prom) and to
/var/lib/bundle-maintenance/<job>.json, and ends with a one-screen summary. Exit codes: 0 success,
1 failed, 75 skipped (the lock stayed busy), 2 bad usage or configuration.

Installed by roles/maintenance beside bundle_snapshot.py and bundle_redis_rdb.py (plugins/module_utils) and
app_release.py (plugins/filter): the snapshot contract, an RDB's figures and the image choice are the same code
the roles use.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

HERE = Path(__file__).resolve().parent
# No __pycache__ beside the installed modules: that folder holds only what the maintenance role put there (a cache a
# timer wrote at 03:00 would be a change no playbook made).
sys.dont_write_bytecode = True
# Installed: the shared modules lie beside this program. In the repository: plugins/ of the checkout.
for _extra in (HERE, HERE.parents[2] / "plugins" / "module_utils", HERE.parents[2] / "plugins" / "filter"):
    if (_extra / "bundle_snapshot.py").exists() or (_extra / "app_release.py").exists():
        sys.path.insert(0, str(_extra))
import app_release  # noqa: E402  (plugins/filter/app_release.py: which release images to remove)
import bundle_redis_rdb  # noqa: E402  (plugins/module_utils/bundle_redis_rdb.py: an RDB's keys, as the redis role reads them)
import bundle_snapshot  # noqa: E402  (plugins/module_utils/bundle_snapshot.py: the snapshot contract)

JOBS = ("orphans", "prune", "vacuum", "redis", "drill")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 75
DEFAULT_CONFIG = "/etc/bundle-maintenance/config.json"
ITEM_KINDS = ("found", "removed", "quarantined")
LIST_LIMIT = 15
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INFO_RE = re.compile(r"^([a-z0-9_]+):(.*)$")
HELP = {
    "bundle_maintenance_last_success": "1 when the last run of the maintenance job succeeded, 0 when it failed.",
    "bundle_maintenance_last_run_timestamp_seconds": "End of the last run of the maintenance job, labelled with its result.",
    "bundle_maintenance_last_success_timestamp_seconds": "End of the last successful run of the maintenance job.",
    "bundle_maintenance_duration_seconds": "Duration of the last run of the maintenance job.",
    "bundle_maintenance_items": "Items the last run of the job found, removed and moved to quarantine.",
    "bundle_snapshot_restorable": "1 when the newest snapshot of the service was restored into a scratch place and verified.",
    "bundle_snapshot_restore_duration_seconds": "Seconds the restore drill of the newest snapshot took.",
    "bundle_snapshot_last_timestamp_seconds": "Time the newest sealed snapshot of the service was taken.",
    "bundle_snapshot_last_size_bytes": "Size of the newest sealed snapshot of the service.",
    "bundle_snapshot_last_drill_timestamp_seconds": "End of the last restore drill of the service.",
    "bundle_redis_last_save_timestamp_seconds": "Time of Redis's last successful save (after the job's BGSAVE).",
    "bundle_redis_save_age_before_seconds": "Age of Redis's last save when the job started (its own save points).",
    "bundle_redis_bgsave_ok": "1 when the job's BGSAVE succeeded.",
    "bundle_redis_aof_rewrite_ok": "1 when the job's AOF rewrite succeeded (AOF enabled only).",
    "bundle_postgres_database_size_bytes": "Size of the application's database after VACUUM (ANALYZE).",
    "bundle_postgres_dead_tuples": "Dead tuples in the application's tables after VACUUM (ANALYZE).",
    "bundle_postgres_bloated_tables": "Tables whose dead tuple share was above the bloat ratio before VACUUM.",
}


class JobError(Exception):
    """The job cannot go on; the message says why and what to do."""


class JobTimeout(Exception):
    """The job ran longer than its timeout."""


class Busy(Exception):
    """The lock stayed busy for the whole wait: the job is skipped with this message."""


class Sample(NamedTuple):
    name: str
    labels: Mapping[str, str]
    value: float


@dataclass
class Outcome:
    """What a job did: counts, the report a person reads, details for machines, extra metrics."""

    items: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ITEM_KINDS, 0))
    lines: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    files: dict[str, list[Sample]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    changed: bool = False


@dataclass
class Options:
    lock_held: bool = False
    delete: bool = False
    dry_run: bool = False


# --- time ------------------------------------------------------------------------------------------

def iso(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: Any) -> float:
    """Epoch seconds of an ISO 8601 UTC time ('2026-12-01T10:44:00Z', microseconds allowed); ValueError otherwise."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"not a time: {text!r}")
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def read_json(path: Path) -> Any:
    """The JSON in path; None when it does not exist or cannot be read as JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_atomic(path: Path, text: str, staging: Path | None = None, mode: int = 0o644) -> None:
    """Write text beside (or in `staging`, on the same filesystem) and rename it into place."""
    folder = staging or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# --- the exclusion: deploy runs, other jobs ----------------------------------------------------------

def run_marker_verdict(marker: Any, now: float, stale_after: float, path: str = "/var/lib/bundle/run.json",
                       mtime: float | None = None) -> tuple[bool, str]:
    """(blocking, message) for the run marker a deploy/rollback/snapshot/maintenance playbook leaves on every host.

    No marker: not blocking. A marker older than stale_after (by its `started`, else the file's mtime) is
    reported as stale and does not block: a playbook killed before its last play would block forever.
    """
    if not marker:
        return False, ""
    if not isinstance(marker, dict):
        marker = {}
    holder = (f"{marker.get('command') or 'deploy'} of {marker.get('release') or '?'} by {marker.get('operator') or '?'} "
              f"since {marker.get('started') or '?'}")
    try:
        started = parse_iso(marker.get("started"))
    except ValueError:
        started = mtime if mtime is not None else now
    age = now - started
    if age > stale_after:
        return False, (f"{path} says {holder}, but it is {int(age)} s old, older than maintenance_marker_stale_after "
                       f"({int(stale_after)} s): treated as stale, not waited for (remove it if no playbook runs)")
    return True, f"{holder} holds the lock"


def waiting_line(message: str, wait: float) -> str:
    return f"waiting up to {int(wait)} s: {message}"


@contextlib.contextmanager
def exclusive(cfg: Mapping[str, Any], job: str, lock_held: bool, log: Callable[[str], None],
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Iterator[None]:
    """Hold this host's maintenance lock and, without lock_held, stay clear of deploy runs; Busy after the wait.

    Order matters against a deploy that starts at the same moment: this job writes its marker first
    and then reads the run marker (a deploy writes its run marker first and then reads ours), so at
    least one of the two always sees the other. While it waits for a deploy, the job lets go of the
    host's lock, so the playbook's own jobs (--lock-held) are not kept waiting by it.
    """
    lock = cfg["lock"]
    wait = float(lock.get("wait", 900))
    deadline = clock() + wait
    host_lock, job_marker, run_marker = Path(lock["host_lock"]), Path(lock["job_marker"]), Path(lock["run_marker"])
    host_lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(host_lock, os.O_RDWR | os.O_CREAT, 0o600)
    said: list[str] = []

    def pause(message: str) -> None:
        if clock() >= deadline:
            raise Busy(f"{message}; skipped")
        if not said or said[-1] != message:
            log(waiting_line(message, wait))
            said.append(message)
        sleep(min(5.0, max(0.1, deadline - clock())))

    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                other = read_json(job_marker) or {}
                pause(f"maintenance job {other.get('job', '?')} (pid {other.get('pid', '?')}) runs on this host since "
                      f"{other.get('started', '?')}")
                continue
            write_atomic(job_marker, json.dumps({"job": job, "pid": os.getpid(), "started": iso(time.time()), "lock_held": lock_held}) + "\n")
            if lock_held:
                break
            try:
                mtime: float | None = run_marker.stat().st_mtime
            except OSError:
                mtime = None
            blocking, message = run_marker_verdict(read_json(run_marker), time.time(), float(lock.get("marker_stale_after", 21600)),
                                                   str(run_marker), mtime)
            if not blocking:
                if message:
                    log(message)
                break
            job_marker.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
            pause(message)
        yield
    finally:
        if (read_json(job_marker) or {}).get("pid") == os.getpid():
            job_marker.unlink(missing_ok=True)
        os.close(fd)


# --- metrics and state -----------------------------------------------------------------------------

def _label_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(value: float) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 2**53 else repr(number)


def render_textfile(samples: Sequence[Sample]) -> str:
    """Prometheus text format, HELP and TYPE once per metric name, in the order names first appear."""
    order: list[str] = []
    for sample in samples:
        if sample.name not in order:
            order.append(sample.name)
    lines: list[str] = []
    for name in order:
        if name in HELP:
            lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        for sample in (s for s in samples if s.name == name):
            labels = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(sample.labels.items()))
            lines.append(f"{name}{{{labels}}} {_value(sample.value)}" if labels else f"{name} {_value(sample.value)}")
    return "\n".join(lines) + "\n"


def job_samples(job: str, result: str, ended: float, duration: float, items: Mapping[str, int],
                state: Mapping[str, Any]) -> list[Sample]:
    """The metrics every job writes. A skipped run keeps the last success (a skip is not a failure)."""
    label = {"maintenance_job": job}
    samples: list[Sample] = []
    if result == "success":
        samples.append(Sample("bundle_maintenance_last_success", label, 1))
    elif result == "skipped":
        if "last_success" in state:
            samples.append(Sample("bundle_maintenance_last_success", label, state["last_success"]))
    else:
        samples.append(Sample("bundle_maintenance_last_success", label, 0))
    samples.append(Sample("bundle_maintenance_last_run_timestamp_seconds", {**label, "result": result}, round(ended)))
    success_at = ended if result == "success" else state.get("last_success_timestamp")
    if success_at is not None:
        samples.append(Sample("bundle_maintenance_last_success_timestamp_seconds", label, round(float(success_at))))
    samples.append(Sample("bundle_maintenance_duration_seconds", label, round(duration, 3)))
    for kind in ITEM_KINDS:
        samples.append(Sample("bundle_maintenance_items", {**label, "kind": kind}, int(items.get(kind, 0))))
    return samples


def next_state(previous: Mapping[str, Any], result: str, ended: float, duration: float,
               items: Mapping[str, int], error: str) -> dict[str, Any]:
    state = dict(previous)
    state.update(last_result=result, last_run=iso(ended), last_run_timestamp=round(ended), duration=round(duration, 3),
                 items=dict(items), error=error)
    if result == "success":
        state.update(last_success=1, last_success_timestamp=round(ended))
    elif result != "skipped":
        state["last_success"] = 0
    return state


# --- commands --------------------------------------------------------------------------------------

def run(argv: Sequence[str], user: str = "", stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command (as `user` through runuser, from /); JobError with its output when it fails and check is set."""
    full = ["runuser", "-u", user, "--", *argv] if user else list(argv)
    try:
        proc = subprocess.run(full, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False, cwd="/")
    except FileNotFoundError as exc:
        raise JobError(f"{argv[0]} is not installed on this host: {exc}") from exc
    if check and proc.returncode != 0:
        raise JobError(f"{' '.join(argv[:6])} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def psql(port: int, database: str, *sql: str) -> list[list[str]]:
    """Rows (tab-separated fields) of SQL run as the postgres OS user (peer authentication on the socket)."""
    argv = ["psql", "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", f"--port={port}", f"--dbname={database}"]
    for statement in sql:
        argv += ["-c", statement]
    out = run(argv, user="postgres").stdout
    return [line.split("\t") for line in out.splitlines() if line]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def last_json_object(text: str) -> dict[str, Any]:
    """The last line of text that is a JSON object (a command's summary after its log lines)."""
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    raise JobError(f"no JSON summary in the output: {text.strip()[-800:]}")


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            out[key.strip()] = value.strip()
    return out


def active_release(app: str) -> dict[str, str]:
    """The image and release of the app's active web slot on this host (the app role's state files)."""
    slot_file = Path(f"/var/lib/{app}/active-slot")
    try:
        slot = slot_file.read_text().strip()
        conf = read_env_file(Path(f"/etc/{app}/web-{slot}.conf"))
    except OSError as exc:
        raise JobError(f"{app} has no active slot on this host ({exc}): is the app deployed here?") from exc
    if not conf.get("APP_IMAGE"):
        raise JobError(f"/etc/{app}/web-{slot}.conf names no APP_IMAGE")
    return {"slot": slot, "image": conf["APP_IMAGE"], "release": conf.get("APP_RELEASE", "")}


def listing(lines: list[str], title: str, entries: Sequence[str]) -> None:
    """A titled list, cut to LIST_LIMIT entries (the JSON details keep all of them)."""
    lines.append(f"{title}: {len(entries)}")
    lines.extend(f"    {e}" for e in entries[:LIST_LIMIT])
    if len(entries) > LIST_LIMIT:
        lines.append(f"    ... and {len(entries) - LIST_LIMIT} more (all of them: --json or the state file)")


# --- orphans ---------------------------------------------------------------------------------------

def expired_quarantine(names: Sequence[str], today: datetime.date, keep_days: int) -> list[str]:
    """Quarantine folders (named YYYY-MM-DD) older than keep_days; other names are never chosen."""
    limit = today - datetime.timedelta(days=keep_days)
    chosen = []
    for name in names:
        if DAY_RE.match(name):
            try:
                day = datetime.date.fromisoformat(name)
            except ValueError:
                continue
            if day < limit:
                chosen.append(name)
    return sorted(chosen)


def count_files(tree: Path) -> int:
    return sum(len(files) for _root, _dirs, files in os.walk(tree))


def orphans_argv(c: Mapping[str, Any], release: Mapping[str, str], delete: bool, today: str) -> list[str]:
    """docker run of the app's orphan command in a one-off container of the running release.

    The app's environment reaches it as it reaches the app's own containers (roles/app): the root-only env file and
    env-exec mounted read-only (container_env) and env-exec before the command (container_exec), so no secret is
    ever in the container's configuration (docker inspect) or on a command line.
    """
    docs = str(c["documents_dir"]).rstrip("/")
    if not c.get("container_env") or not c.get("container_exec"):
        raise JobError("the configuration lacks container_env/container_exec (how the app role hands its environment to "
                       "containers): converge the maintenance role again")
    argv = ["docker", "run", "--rm", "--name", f"{c['app']}-maintenance-orphans", "--network", "host",
            "--user", f"{c['uid']}:{c['gid']}", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--no-healthcheck", "--log-driver", "none",
            *c["container_env"]]
    if c.get("release_env_var") and release.get("release"):
        argv += ["--env", f"{c['release_env_var']}={release['release']}"]
    argv += ["--volume", f"{c['documents_host_dir']}:{docs}", release["image"], *c["container_exec"],
             *shlex.split(c["command"]), "--verbose", "--min-age", str(int(c.get("min_age", 3600)))]
    argv += ["--quarantine", f"{docs}/.quarantine/{today}"] if delete else ["--dry-run"]
    return argv


def orphans_report(summary: Mapping[str, Any], host_dir: str) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Host paths of what the app's command found, and the counts (found, removed, quarantined)."""
    details = summary.get("details") or {}
    missing = details.get("missing_files") or {}
    paths = {
        "files without a row": [f"{host_dir}/{n}" for n in details.get("orphan_files", [])],
        "rows without a file": [f"row {i}: {host_dir}/{missing.get(str(i), '?')} is missing" for i in details.get("orphan_rows", [])],
        "abandoned uploads": [f"{host_dir}/{n}" for n in details.get("stale_uploads", [])],
    }
    found = sum(int(summary.get(k, 0) or 0) for k in ("orphan_files", "orphan_rows", "stale_uploads"))
    removed = int(summary.get("removed_rows", 0) or 0) + int(summary.get("removed_files", 0) or 0)
    return paths, {"found": found, "removed": removed, "quarantined": int(summary.get("quarantined_files", 0) or 0)}


def job_orphans(cfg: Mapping[str, Any], opts: Options, log: Callable[[str], None]) -> Outcome:
    c = cfg["jobs"]["orphans"]
    out = Outcome()
    delete = opts.delete and not opts.dry_run
    release = active_release(c["app"])
    today = datetime.datetime.now(datetime.timezone.utc).date()
    host_dir = str(c["documents_host_dir"]).rstrip("/")
    argv = orphans_argv(c, release, delete, today.isoformat())
    run(["docker", "rm", "--force", f"{c['app']}-maintenance-orphans"], check=False)
    try:
        proc = run(argv, check=False)
    except BaseException:
        run(["docker", "rm", "--force", f"{c['app']}-maintenance-orphans"], check=False)
        raise
    summary = last_json_object(proc.stdout)
    if summary.get("skipped"):
        raise JobError(f"{c['command']}: {summary['skipped']}")
    if proc.returncode != 0:
        raise JobError(f"{c['command']} failed ({proc.returncode}): {summary.get('refused') or proc.stderr.strip()[-800:]}")
    paths, out.items = orphans_report(summary, host_dir)
    mode = "deleting: files to the quarantine, rows deleted" if delete else "report only: nothing deleted or moved"
    out.lines.append(f"{c['app']} release {release['release']} ({mode}); {summary.get('files_scanned', 0)} files and "
                     f"{summary.get('rows_scanned', 0)} rows scanned, files younger than {int(c.get('min_age', 3600))} s left alone")
    for title, entries in paths.items():
        listing(out.lines, title, entries)
    if delete:
        out.lines.append(f"moved to {host_dir}/.quarantine/{today.isoformat()}/: {out.items['quarantined']} files; "
                         f"rows deleted: {summary.get('removed_rows', 0)}")
    quarantine = Path(host_dir) / ".quarantine"
    folders = sorted(p.name for p in quarantine.iterdir() if p.is_dir()) if quarantine.is_dir() else []
    expired = expired_quarantine(folders, today, int(c.get("quarantine_days", 14)))
    if delete:
        for name in expired:
            folder = quarantine / name
            files = count_files(folder)
            # As the folder's owner: on an NFS share with root_squash, root may not remove the app's files.
            run(["rm", "-rf", "--", str(folder)], user=user_name(folder.stat().st_uid))
            out.items["removed"] += files
            out.lines.append(f"purged {folder} ({files} files, older than {c.get('quarantine_days', 14)} days)")
    elif expired:
        out.lines.append(f"quarantine folders older than {c.get('quarantine_days', 14)} days: {', '.join(expired)} "
                         f"(purged by a run with deletion on)")
    out.lines.append(f"quarantine: {len(folders) - (len(expired) if delete else 0)} folder(s) in {quarantine}")
    if not delete and out.items["found"]:
        out.lines.append("to act: -e maintenance_delete=true (timer: maintenance_orphans_delete) moves the files "
                         "into the dated quarantine folder and deletes the rows")
    out.details = {"summary": summary, "paths": paths, "quarantine_expired": expired, "release": release}
    out.changed = bool(out.items["removed"] or out.items["quarantined"])
    return out


def user_name(uid: int) -> str:
    """The account of a uid ('' when the host has none: the command then runs as root)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


# --- prune -----------------------------------------------------------------------------------------

def protected_ids(doc: Any, now: float) -> tuple[set[str], list[str]]:
    """Release and snapshot ids prune must keep, from the ledger's protected list (protected.json); and why.

    Each entry names a release the ledger protects (current, last good, unfinished, live, or bad and kept
    for inspection until `until`) and the snapshot bound to it. An entry whose `until` has passed no
    longer protects anything.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("releases"), list):
        raise JobError("the protected list is not the ledger's (a JSON object with a list 'releases')")
    keep: set[str] = set()
    why: list[str] = []
    for entry in doc["releases"]:
        release = str(entry.get("release", ""))
        if not release:
            continue
        until = str(entry.get("until") or "")
        if until and parse_iso(until) <= now:
            why.append(f"{release} ({entry.get('why', '')}): no longer kept, its time ended {until}")
            continue
        keep.add(release)
        bound = str(entry.get("snapshot_id") or "")
        if bound:
            keep.add(bound)
        why.append(f"{release} ({entry.get('why', '')}{', until ' + until if until else ''})"
                   + (f", snapshot {bound}" if bound and bound != release else ""))
    return keep, why


def load_protected(cfg: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The ledger's protected list: given inline (the playbook, fresh from the ledger) or the file deploys write."""
    if isinstance(cfg.get("protected"), dict):
        return cfg["protected"], "fresh from the ledger"
    path = Path(cfg.get("protected_file", "/var/lib/bundle/protected.json"))
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise JobError(f"no protected list in {path}: nothing is pruned without the ledger's view of what must stay. "
                       "Run ansible-playbook playbooks/maintenance.yml --tags prune (or any deploy) so it reaches this host.")
    return doc, f"{path}, written {doc.get('written', '?')} by {doc.get('by', '?')}"


def prune_snapshots(svc: Mapping[str, Any], keep: int, protected: set[str], grace_hours: float, dry_run: bool,
                    out: Outcome) -> None:
    root = Path(svc["root"])
    found = bundle_snapshot.scan(root)
    result = bundle_snapshot.prune(root, keep, sorted(protected), grace_hours * 3600, check_mode=dry_run)
    gone = result["removed"] + result["removed_unsealed"]
    kept = [s["id"] for s in found.sealed if s["id"] not in result["removed"]]
    out.items["found"] += len(gone)
    out.items["removed"] += 0 if dry_run else len(gone)
    verb = "would remove" if dry_run else "removed"
    out.lines.append(f"{svc['service']} snapshots in {root}: {len(found.sealed)} sealed; kept {len(kept)}: {' '.join(kept) or '-'}; "
                     f"{verb} {len(gone)}: {' '.join(gone) or '-'}")
    for broken in result["broken"]:
        out.lines.append(f"  broken, left for a person: {broken['error']}")
    out.details.setdefault("snapshots", {})[svc["service"]] = {"kept": kept, "removed": gone, "broken": result["broken"]}
    replaced = svc.get("replaced") or {}
    if replaced.get("database"):
        prefix = replaced["prefix"]
        names = [row[0] for row in psql(int(svc.get("port", 5432)), "postgres",
                                        f"SELECT datname FROM pg_database WHERE starts_with(datname, {quote_literal(prefix)})")]
        expired = bundle_snapshot.replaced_plan(names, prefix, int(replaced.get("keep_days", 7)))
        for name in expired if not dry_run else []:
            psql(int(svc.get("port", 5432)), "postgres", f"DROP DATABASE {quote_ident(name)} WITH (FORCE)")
    elif replaced.get("dir"):
        expired = bundle_snapshot.replaced_prune(Path(replaced["dir"]), replaced.get("prefix", ""), int(replaced.get("keep_days", 7)),
                                                 check_mode=dry_run)
    else:
        expired = []
    if expired:
        out.items["found"] += len(expired)
        out.items["removed"] += 0 if dry_run else len(expired)
        out.lines.append(f"  data replaced by restores, older than {replaced.get('keep_days', 7)} days, {verb}: {' '.join(expired)}")
    out.changed = out.changed or (bool(gone or expired) and not dry_run)


def prune_images(c: Mapping[str, Any], keep: int, protected: set[str], dry_run: bool, out: Outcome) -> None:
    app = c["app"]
    repos = set()
    slot_releases = set()
    for slot in ("blue", "green"):
        conf_file = Path(f"/etc/{app}/web-{slot}.conf")
        if conf_file.exists():
            conf = read_env_file(conf_file)
            if conf.get("APP_IMAGE"):
                repos.add(conf["APP_IMAGE"].rsplit(":", 1)[0])
                slot_releases.add(conf.get("APP_RELEASE", ""))
    if not repos:
        out.lines.append(f"{app} images: no web slot configured on this host, nothing to prune")
        return
    in_use = run(["docker", "ps", "--all", "--format", "{{.Image}}"]).stdout.split()
    for repo in sorted(repos):
        images = app_release.app_image_list(run(["docker", "image", "ls", "--format", "{{.Tag}}\t{{.CreatedAt}}", repo]).stdout)
        guarded = protected | set(app_release.app_tags_in_use(in_use, repo)) | slot_releases
        remove = app_release.app_images_to_prune(images, keep, guarded)
        for tag in remove if not dry_run else []:
            run(["docker", "image", "rm", f"{repo}:{tag}"])
            Path(f"/var/lib/{app}/static/{tag}.tar.gz").unlink(missing_ok=True)
        kept = [i["tag"] for i in images if i["tag"] not in remove]
        out.items["found"] += len(remove)
        out.items["removed"] += 0 if dry_run else len(remove)
        out.lines.append(f"{repo} images: {len(images)}; kept {len(kept)}: {' '.join(kept) or '-'}; "
                         f"{'would remove' if dry_run else 'removed'} {len(remove)}: {' '.join(remove) or '-'}")
        out.details.setdefault("images", {})[repo] = {"kept": kept, "removed": remove}
        out.changed = out.changed or (bool(remove) and not dry_run)


def job_prune(cfg: Mapping[str, Any], opts: Options, log: Callable[[str], None]) -> Outcome:
    c = cfg["jobs"]["prune"]
    out = Outcome()
    doc, source = load_protected(cfg)
    protected, why = protected_ids(doc, time.time())
    out.lines.append(f"kept whatever happens (the ledger's protected releases, {source}):")
    out.lines.extend(f"    {w}" for w in why or ["none"])
    for svc in c.get("snapshots", []):
        prune_snapshots(svc, int(c.get("keep_snapshots", 5)), protected, float(c.get("unsealed_grace_hours", 24)), opts.dry_run, out)
    if c.get("images"):
        prune_images(c["images"], int(c.get("keep_images", 3)), protected, opts.dry_run, out)
    out.details["protected"] = sorted(protected)
    return out


# --- vacuum ----------------------------------------------------------------------------------------

STATS_SQL = ("SELECT schemaname || '.' || relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid) "
             "FROM pg_stat_user_tables ORDER BY 4 DESC, 1")


def table_stats(rows: Sequence[Sequence[str]]) -> dict[str, dict[str, int]]:
    return {r[0]: {"live": int(r[1]), "dead": int(r[2]), "bytes": int(r[3])} for r in rows}


def bloated(stats: Mapping[str, Mapping[str, int]], ratio: float) -> list[str]:
    """Tables whose dead tuples are more than `ratio` of their tuples."""
    return sorted(t for t, s in stats.items() if s["dead"] and s["dead"] > ratio * (s["live"] + s["dead"]))


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def job_vacuum(cfg: Mapping[str, Any], opts: Options, log: Callable[[str], None]) -> Outcome:
    c = cfg["jobs"]["vacuum"]
    out = Outcome()
    db, port = c["database"], int(c.get("port", 5432))
    size_sql = f"SELECT pg_database_size({quote_literal(db)})"
    size_before = int(psql(port, db, size_sql)[0][0])
    before = table_stats(psql(port, db, STATS_SQL))
    heavy = bloated(before, float(c.get("bloat_ratio", 0.2)))
    if opts.dry_run:
        out.lines.append(f"{db}: {human_bytes(size_before)}, {len(before)} tables; would run VACUUM (ANALYZE)")
        return out
    psql(port, db, "VACUUM (ANALYZE)")
    after = table_stats(psql(port, db, STATS_SQL))
    size_after = int(psql(port, db, size_sql)[0][0])
    dead_before = sum(s["dead"] for s in before.values())
    dead_after = sum(s["dead"] for s in after.values())
    out.items.update(found=dead_before, removed=max(0, dead_before - dead_after))
    out.lines.append(f"{db}: VACUUM (ANALYZE) of {len(after)} tables; size {human_bytes(size_before)} -> {human_bytes(size_after)}; "
                     f"dead tuples {dead_before} -> {dead_after}")
    out.lines.append(f"tables above the bloat ratio {c.get('bloat_ratio', 0.2)} before: {', '.join(heavy) or 'none'}")
    for name, s in list(after.items())[: int(c.get("report_tables", 10))]:
        was = before.get(name, {"dead": 0})
        out.lines.append(f"    {name}: {human_bytes(s['bytes'])}, {s['live']} live rows, dead {was['dead']} -> {s['dead']}")
    label = {"database": db}
    out.samples += [Sample("bundle_postgres_database_size_bytes", label, size_after),
                    Sample("bundle_postgres_dead_tuples", label, dead_after),
                    Sample("bundle_postgres_bloated_tables", label, len(heavy))]
    out.details = {"database": db, "size_before": size_before, "size_after": size_after, "tables": after, "bloated_before": heavy}
    out.changed = True
    return out


# --- redis -----------------------------------------------------------------------------------------

def parse_info(text: str) -> dict[str, str]:
    """`INFO <section>` output -> {field: value}."""
    info: dict[str, str] = {}
    for line in text.splitlines():
        match = INFO_RE.match(line.strip())
        if match:
            info[match.group(1)] = match.group(2).strip()
    return info


def redis_cli(c: Mapping[str, Any], *args: str) -> str:
    """redis-cli as the admin user on loopback; the password goes on stdin (--askpass), never in argv."""
    password = Path(c["password_file"]).read_text().strip()
    out = run(["redis-cli", "-h", "127.0.0.1", "-p", str(c.get("port", 6379)), "--user", str(c["user"]), "--askpass", *args],
              stdin=password + "\n").stdout
    if re.match(r"^(\(error\) )?(ERR|NOAUTH|WRONGPASS|NOPERM)", out.strip()):
        raise JobError(f"redis-cli {' '.join(args)}: {out.strip()}")
    return out


def wait_until(what: str, check: Callable[[], bool], timeout: float, sleep: Callable[[float], None] = time.sleep) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise JobError(f"{what} did not happen within {int(timeout)} s")
        sleep(1)


def job_redis(cfg: Mapping[str, Any], opts: Options, log: Callable[[str], None]) -> Outcome:
    c = cfg["jobs"]["redis"]
    out = Outcome()
    timeout = float(c.get("save_timeout", 300))
    before = parse_info(redis_cli(c, "INFO", "persistence"))
    saved_at = int(before.get("rdb_last_save_time", 0))
    age_before = max(0, int(time.time()) - saved_at)
    out.lines.append(f"last save before this job: {iso(saved_at)} ({age_before} s ago, from Redis's save points); "
                     f"last background save {before.get('rdb_last_bgsave_status', '?')}")
    if opts.dry_run:
        out.lines.append("would run BGSAVE" + (" and BGREWRITEAOF" if before.get("aof_enabled") == "1" else ""))
        return out
    # LASTSAVE has a one-second resolution: start in a later second than the last save.
    time.sleep(1)
    redis_cli(c, "BGSAVE", "SCHEDULE")
    state: dict[str, str] = {}

    def saved() -> bool:
        state.update(parse_info(redis_cli(c, "INFO", "persistence")))
        return int(state.get("rdb_last_save_time", 0)) > saved_at and state.get("rdb_bgsave_in_progress") == "0"

    wait_until("BGSAVE", saved, timeout)
    bgsave_ok = state.get("rdb_last_bgsave_status") == "ok"
    out.lines.append(f"BGSAVE: {state.get('rdb_last_bgsave_status')} in {state.get('rdb_last_bgsave_time_sec', '?')} s")
    if not bgsave_ok:
        out.problems.append("BGSAVE failed: read the Redis log (disk space, permissions of the data directory)")
    out.samples += [Sample("bundle_redis_last_save_timestamp_seconds", {}, int(state.get("rdb_last_save_time", 0))),
                    Sample("bundle_redis_save_age_before_seconds", {}, age_before),
                    Sample("bundle_redis_bgsave_ok", {}, int(bgsave_ok))]
    if state.get("aof_enabled") == "1":
        if c.get("aof_rewrite", True):
            rewrites = int(state.get("aof_rewrites", -1))
            redis_cli(c, "BGREWRITEAOF")

            def rewritten() -> bool:
                state.update(parse_info(redis_cli(c, "INFO", "persistence")))
                done = state.get("aof_rewrite_in_progress") == "0" and state.get("aof_rewrite_scheduled") == "0"
                return done and (rewrites < 0 or int(state.get("aof_rewrites", 0)) > rewrites)

            wait_until("BGREWRITEAOF", rewritten, timeout)
        aof_ok = state.get("aof_last_bgrewrite_status") == "ok" and state.get("aof_last_write_status") == "ok"
        out.lines.append(f"AOF: last rewrite {state.get('aof_last_bgrewrite_status')}, last write {state.get('aof_last_write_status')}"
                         + (" (rewritten now)" if c.get("aof_rewrite", True) else ""))
        if not aof_ok:
            out.problems.append("the append-only file failed to rewrite or write: read the Redis log")
        out.samples.append(Sample("bundle_redis_aof_rewrite_ok", {}, int(aof_ok)))
    else:
        out.lines.append("AOF: off")
    out.items["found"] = len(out.problems)
    out.details = {"before": {k: before.get(k) for k in ("rdb_last_save_time", "rdb_last_bgsave_status")},
                   "after": {k: v for k, v in state.items() if k.startswith(("rdb_", "aof_"))}}
    out.changed = True
    return out


# --- drill -----------------------------------------------------------------------------------------

class DrillError(Exception):
    """The snapshot could not be restored or does not match what was recorded."""


def count_mismatches(actual: Mapping[str, int], recorded: Mapping[str, int], slack: Mapping[str, int] | None = None) -> list[str]:
    """Differences of restored counts from recorded ones; `slack` allows fewer (keys with a TTL that expired since)."""
    problems = []
    for key in sorted(recorded):
        want = int(recorded[key])
        if key not in actual:
            problems.append(f"{key}: missing (recorded {want})")
            continue
        have, low = int(actual[key]), want - int((slack or {}).get(key, 0))
        if not low <= have <= want:
            problems.append(f"{key}: {have}, recorded {want}" + (f" (at least {low})" if low != want else ""))
    problems += [f"{key}: {actual[key]}, not in the snapshot" for key in sorted(set(actual) - set(recorded)) if actual[key]]
    return problems


def drill_postgres(svc: Mapping[str, Any], meta: Mapping[str, Any], snapshot: Path, scratch: Path) -> list[str]:
    port, database = int(svc.get("port", 5432)), str(meta["checks"].get("database") or svc["database"])
    drill_db = f"{database[:55]}__drill"
    dump = snapshot / meta["files"][0]["name"]
    owner = f" OWNER {quote_ident(str(svc['owner']))}" if svc.get("owner") else ""
    psql(port, "postgres", f"DROP DATABASE IF EXISTS {quote_ident(drill_db)} WITH (FORCE)",
         f"CREATE DATABASE {quote_ident(drill_db)}{owner} TEMPLATE template0",
         f"REVOKE CONNECT, TEMPORARY ON DATABASE {quote_ident(drill_db)} FROM PUBLIC")
    try:
        proc = run(["pg_restore", "--exit-on-error", "--single-transaction", f"--port={port}", f"--dbname={drill_db}", str(dump)],
                   user="postgres", check=False)
        if proc.returncode != 0:
            raise DrillError(f"pg_restore of {dump.name} into {drill_db} failed: {proc.stderr.strip()[-800:]}")
        recorded: Mapping[str, int] = meta["checks"].get("tables", {})
        present = {r[0] for r in psql(port, drill_db, "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                                      "WHERE table_type = 'BASE TABLE'")}
        counted = [t for t in sorted(recorded) if t in present]
        counts: dict[str, int] = {}
        if counted:
            union = " UNION ALL ".join(f"SELECT {quote_literal(t)}, count(*) FROM {'.'.join(quote_ident(p) for p in t.split('.', 1))}"
                                       for t in counted)
            counts = {r[0]: int(r[1]) for r in psql(port, drill_db, union)}
        problems = count_mismatches(counts, recorded)
        if problems:
            raise DrillError(f"row counts differ from the snapshot's checks: {'; '.join(problems[:10])}")
        return [f"restored into {drill_db}: {sum(counts.values())} rows in {len(counts)} tables, as recorded"]
    finally:
        psql(port, "postgres", f"DROP DATABASE IF EXISTS {quote_ident(drill_db)} WITH (FORCE)")


def drill_redis(svc: Mapping[str, Any], meta: Mapping[str, Any], snapshot: Path, scratch: Path) -> list[str]:
    """dump.rdb loaded by a throwaway redis-server (no TCP port, a socket in a private folder; the code the redis role
    takes the checks with), its keys per database compared with the snapshot's checks."""
    try:
        live = bundle_redis_rdb.rdb_keyspace(snapshot / "dump.rdb", int(svc.get("timeout", 300)))
    except bundle_redis_rdb.RedisCheckError as exc:
        raise DrillError(str(exc)) from exc
    problems = bundle_redis_rdb.mismatches(live, meta["checks"])
    if problems:
        raise DrillError(f"keys differ from the snapshot's checks: {'; '.join(problems[:10])}")
    return [f"loaded by a throwaway redis-server (unix socket only): {sum(v['keys'] for v in live.values())} keys in "
            f"{len(live)} databases, as recorded"]


def drill_nfs(svc: Mapping[str, Any], meta: Mapping[str, Any], snapshot: Path, scratch: Path) -> list[str]:
    work = scratch / f"nfs-{meta['id']}"
    try:
        shutil.copytree(snapshot / "shares", work, symlinks=True)
        lines = []
        for entry in meta["files"]:
            if "manifest_of" not in entry:
                continue
            share = str(entry["manifest_of"]).split("/", 1)[-1]
            expected = bundle_snapshot.parse_manifest((snapshot / entry["name"]).read_text())
            diff = bundle_snapshot.manifest_diff(expected, bundle_snapshot.build_manifest(work / share))
            if diff:
                raise DrillError(f"share {share} copied to {work} differs from its manifest: {'; '.join(diff[:10])}")
            files, size = bundle_snapshot.tree_size(work / share)
            recorded = meta["checks"].get("shares", {}).get(share, {})
            if (files, size) != (recorded.get("files"), recorded.get("bytes")):
                raise DrillError(f"share {share}: {files} files, {size} bytes; the snapshot recorded "
                                 f"{recorded.get('files')} files, {recorded.get('bytes')} bytes")
            lines.append(f"share {share} copied to a scratch folder: {files} files, {human_bytes(size)}, every sha256 as recorded")
        return lines
    finally:
        shutil.rmtree(work, ignore_errors=True)


DRILLS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], Path, Path], list[str]]] = {
    "postgres": drill_postgres, "redis": drill_redis, "nfs": drill_nfs,
}


def drill_one(svc: Mapping[str, Any], scratch: Path, dry_run: bool) -> tuple[dict[str, Any], list[str]]:
    """Verify and restore the newest sealed snapshot of one service; ({service, snapshot, restorable, ...}, report lines)."""
    service, root = svc["service"], Path(svc["root"])
    start = time.monotonic()
    found = bundle_snapshot.scan(root)
    newest = found.sealed[0] if found.sealed else None
    record: dict[str, Any] = {"service": service, "snapshot": newest["id"] if newest else "", "restorable": 0, "error": "",
                              "created": newest["created"] if newest else "", "size_bytes": newest["size_bytes"] if newest else 0}
    try:
        if found.broken:
            raise DrillError("broken snapshot(s), meta.json unreadable: " + "; ".join(b.error for b in found.broken))
        if newest is None:
            raise DrillError(f"no sealed snapshot in {root}: take one (playbooks/snapshot.yml)")
        meta = bundle_snapshot.verify_dir(root / newest["id"])
        if dry_run:
            return record | {"restorable": 1}, [f"{service}: {newest['id']} verified (checksums); would restore it into a scratch place"]
        lines = DRILLS[service](svc, meta, root / newest["id"], scratch)
        record["restorable"] = 1
    except (DrillError, bundle_snapshot.SnapshotError, JobError, OSError, KeyError, IndexError, subprocess.SubprocessError) as exc:
        record["error"] = str(exc)
        lines = [f"NOT RESTORABLE: {exc}"]
    record["seconds"] = round(time.monotonic() - start, 3)
    head = (f"{service}: snapshot {record['snapshot'] or '-'} (taken {record['created'] or '-'}, {human_bytes(record['size_bytes'])})"
            f" {'restorable' if record['restorable'] else 'FAILED'} in {record['seconds']:.1f} s")
    return record, [head] + [f"    {line}" for line in lines]


def drill_samples(record: Mapping[str, Any], ended: float) -> list[Sample]:
    service = {"service": record["service"]}
    with_id = {**service, "snapshot": record["snapshot"]}
    samples = [Sample("bundle_snapshot_restorable", with_id, record["restorable"]),
               Sample("bundle_snapshot_restore_duration_seconds", with_id, record["seconds"]),
               Sample("bundle_snapshot_last_drill_timestamp_seconds", service, round(ended))]
    if record["created"]:
        samples += [Sample("bundle_snapshot_last_timestamp_seconds", service, round(parse_iso(record["created"]))),
                    Sample("bundle_snapshot_last_size_bytes", service, record["size_bytes"])]
    return samples


def job_drill(cfg: Mapping[str, Any], opts: Options, log: Callable[[str], None]) -> Outcome:
    c = cfg["jobs"]["drill"]
    out = Outcome()
    scratch = Path(c.get("scratch_dir", "/var/tmp/bundle-drill"))
    scratch.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o711)  # the scratch redis-server runs as redis in a folder of its own below
    for leftover in scratch.iterdir():  # from a run the service manager killed
        shutil.rmtree(leftover, ignore_errors=True)
    records = []
    for svc in c.get("services", []):
        record, lines = drill_one(svc, scratch, opts.dry_run)
        records.append(record)
        out.lines += lines
        out.items["found"] += 1
        if not record["restorable"]:
            out.problems.append(f"{record['service']} snapshot {record['snapshot'] or '-'} is not restorable: {record['error']}")
        if not opts.dry_run:
            out.files[f"snapshot_{record['service']}"] = drill_samples(record, time.time())
    out.details = {"drills": records}
    out.changed = bool(records) and not opts.dry_run
    return out


JOB_FUNCTIONS: dict[str, Callable[[Mapping[str, Any], Options, Callable[[str], None]], Outcome]] = {
    "orphans": job_orphans, "prune": job_prune, "vacuum": job_vacuum, "redis": job_redis, "drill": job_drill,
}


# --- the run ---------------------------------------------------------------------------------------

def load_config(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
        cfg = json.loads(text)
    except (OSError, ValueError) as exc:
        raise JobError(f"cannot read the configuration {source}: {exc} (roles/maintenance writes {DEFAULT_CONFIG})") from exc
    if not isinstance(cfg, dict) or not isinstance(cfg.get("jobs"), dict) or not isinstance(cfg.get("lock"), dict):
        raise JobError(f"{source} is not a bundle-maintenance configuration (jobs, lock)")
    return cfg


def summary_line(job: str, host: str, result: str, duration: float, items: Mapping[str, int], error: str) -> str:
    counts = ", ".join(f"{kind} {items.get(kind, 0)}" for kind in ITEM_KINDS)
    return f"RESULT {job} on {host}: {result.upper()} in {duration:.1f} s; {counts}" + (f"; {error}" if error else "")


def to_journal(job: str, text: str) -> None:
    """Outside systemd (the playbook path) the report goes to the journal too, under the unit's identifier."""
    if os.environ.get("INVOCATION_ID") or not shutil.which("systemd-cat") or not Path("/run/systemd/journal/stdout").exists():
        return
    subprocess.run(["systemd-cat", "-t", f"bundle-maintenance-{job}"], input=text, text=True, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def record(cfg: Mapping[str, Any], job: str, result: str, ended: float, duration: float, items: Mapping[str, int],
           error: str, extra: Sequence[Sample] = (), files: Mapping[str, Sequence[Sample]] | None = None,
           report: Sequence[str] = ()) -> list[str]:
    """Write the job's state and metrics files; returns notes about what could not be written."""
    notes = []
    state_dir = Path(cfg.get("state_dir", "/var/lib/bundle-maintenance"))
    state_file = state_dir / f"{job}.json"
    previous = read_json(state_file) or {}
    state = next_state(previous, result, ended, duration, items, error)
    state["report"] = list(report)[-60:]
    write_atomic(state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", mode=0o640)
    textfile = cfg.get("textfile") or {}
    folder = Path(textfile.get("dir", "/var/lib/prometheus/node-exporter"))
    if not folder.is_dir():
        return [f"no metrics written: {folder} does not exist (node exporter's textfile directory, roles/monitoring node.yml)"]
    staging = Path(textfile.get("tmp", "/var/lib/prometheus/.textfile-tmp"))
    samples = job_samples(job, result, ended, duration, items, previous) + list(extra)
    write_atomic(folder / f"maintenance_{job}.prom", render_textfile(samples), staging)
    for name, more in (files or {}).items():
        write_atomic(folder / f"{name}.prom", render_textfile(more), staging)
    return notes


def _alarm(signum: int, frame: Any) -> None:
    raise JobTimeout()


def run_job(cfg: dict[str, Any], job: str, opts: Options, as_json: bool) -> int:
    host = str(cfg.get("host") or socket.gethostname())
    started, clock0 = time.time(), time.monotonic()
    report: list[str] = []

    def log(line: str) -> None:
        report.append(line)
        if not as_json:
            print(line, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    job_cfg = cfg["jobs"].get(job)
    if not isinstance(job_cfg, dict):
        raise JobError(f"job {job} is not configured on {host} (roles/maintenance installs it where it applies)")
    timeout = int(job_cfg.get("timeout", 0))
    result, error, outcome = "success", "", Outcome()
    log(f"{job} on {host}, {iso(started)}" + (" (dry run: nothing changes)" if opts.dry_run else "")
        + (" (the playbook holds the deploy lock)" if opts.lock_held else ""))
    try:
        with exclusive(cfg, job, opts.lock_held, log):
            if timeout > 0:
                signal.signal(signal.SIGALRM, _alarm)
                signal.alarm(timeout)
            try:
                outcome = JOB_FUNCTIONS[job](cfg, opts, log)
            finally:
                signal.alarm(0)
        for line in outcome.lines:
            log(line)
        if outcome.problems:
            result, error = "failed", "; ".join(outcome.problems)
    except Busy as exc:
        result, error = "skipped", str(exc)
    except JobTimeout:
        result, error = "timeout", f"stopped after its timeout of {timeout} s (maintenance_{job}_timeout)"
    except (JobError, bundle_snapshot.SnapshotError, OSError, subprocess.SubprocessError) as exc:
        result, error = "failed", str(exc)
    duration = time.monotonic() - clock0
    ended = time.time()
    if error:
        log(("SKIPPED: " if result == "skipped" else "FAILED: ") + error)
    if not opts.dry_run:
        for note in record(cfg, job, result, ended, duration, outcome.items, error, outcome.samples, outcome.files, report):
            log(note)
    final = summary_line(job, host, result, duration, outcome.items, "")
    log(final)
    to_journal(job, "\n".join(report) + "\n")
    if as_json:
        print(json.dumps({"job": job, "host": host, "result": result, "error": error, "changed": outcome.changed and not opts.dry_run,
                          "items": outcome.items, "duration": round(duration, 3), "lines": report, "details": outcome.details},
                         sort_keys=True, default=str))
    return {"success": EXIT_OK, "skipped": EXIT_SKIPPED}.get(result, EXIT_FAILED)


def finalize(cfg: Mapping[str, Any], job: str) -> int:
    """ExecStopPost: when systemd ended the run (timeout, killed) before it recorded itself, record it now."""
    service_result = os.environ.get("SERVICE_RESULT", "success")
    marker_path = Path(cfg["lock"]["job_marker"])
    marker = read_json(marker_path) or {}
    if service_result == "success" or marker.get("job") != job:
        return EXIT_OK
    result = "timeout" if service_result == "timeout" else "failed"
    ended = time.time()
    try:
        duration = ended - parse_iso(marker.get("started"))
    except ValueError:
        duration = 0.0
    error = f"ended by systemd: {service_result} (exit {os.environ.get('EXIT_STATUS', '?')})"
    record(cfg, job, result, ended, duration, dict.fromkeys(ITEM_KINDS, 0), error, report=[error])
    marker_path.unlink(missing_ok=True)
    print(summary_line(job, str(cfg.get("host") or socket.gethostname()), result, duration, {}, error))
    return EXIT_OK


def status(cfg: Mapping[str, Any]) -> int:
    state_dir = Path(cfg.get("state_dir", "/var/lib/bundle-maintenance"))
    for job in JOBS:
        state = read_json(state_dir / f"{job}.json")
        if job not in cfg["jobs"]:
            continue
        if not state:
            print(f"{job:<8} never ran")
            continue
        items = state.get("items", {})
        print(f"{job:<8} {state.get('last_result', '?'):<8} {state.get('last_run', '?')}  {state.get('duration', 0):>8.1f} s  "
              + " ".join(f"{k}={items.get(k, 0)}" for k in ITEM_KINDS)
              + (f"  last success {iso(state['last_success_timestamp'])}" if state.get("last_success_timestamp") else "")
              + (f"  {state['error']}" if state.get("error") else ""))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bundle-maintenance", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=[*JOBS, "status", "finalize"])
    parser.add_argument("job", nargs="?", choices=JOBS, help="the job (finalize)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"configuration file, - for stdin (default {DEFAULT_CONFIG})")
    parser.add_argument("--lock-held", action="store_true", help="the caller (playbooks/maintenance.yml) holds the deploy lock")
    parser.add_argument("--delete", action="store_true", help="orphans: move files to the quarantine and delete rows")
    parser.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing, write no metrics")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object (the report goes to stderr)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        if args.command == "status":
            return status(cfg)
        if args.command == "finalize":
            if not args.job:
                raise JobError("finalize needs the job: bundle-maintenance finalize JOB")
            return finalize(cfg, args.job)
        return run_job(cfg, args.command, Options(args.lock_held, args.delete or bool(cfg["jobs"].get("orphans", {}).get("delete")),
                                                  args.dry_run), args.json)
    except JobError as exc:
        print(f"bundle-maintenance: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
