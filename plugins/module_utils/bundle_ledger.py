"""The release ledger and the deploy lock of an environment: plain files on one state host.

Ledger: <root>/releases/<release>.json, one record per release, plus <root>/current.json naming
the release the app hosts run. Records are pretty JSON (readable with cat) written atomically.
Status of a record: unfinished -> live -> good | bad | rolled-back | aborted.
  unfinished   a deploy of it started and has not switched every host (or was killed)
  live         every host switched, the bake window is running
  good         it passed its bake window (or a rollback to it passed its health gate)
  bad          it failed its health gate or bake window; kept for inspection, never deployed again
  rolled-back  it was live or good and a rollback moved away from it (usable as an explicit target)
  aborted      its run ended by an environment failure (unreachable host, monitoring down, lock lost,
               controller killed) and was reverted like a failure; not bad: it may be deployed again,
               but it is no rollback target (like unfinished) and pruning keeps it
OUTCOMES (from OUTCOME_TABLE) says what each status request does to a record in each status:
move to it, keep the old status with a history note, or refuse. Only requests made before any
host changes refuse (begin of a bad release); every request after a switch moves or keeps, so a
playbook that changed hosts never dies on the ledger (a bad release rolled away from stays bad).

Lock: <root>/deploy.lock, created with O_EXCL (atomic), holding who, what, when and a heartbeat.

Everything here is pure Python (no Ansible) so the decisions are unit-tested; the modules
bundle_ledger and bundle_lock are thin wrappers.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

# A release id (also the id of its snapshot): the one definition; filter bundle_release_id checks it in Jinja, and
# tests/unit/test_release_id.py holds the other Python copies (app_release.py, bundle_snapshot.py) and the
# operations inputs' pattern to it.
RELEASE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
RELEASE_RE = re.compile(RELEASE_PATTERN)
STATUSES = ("unfinished", "live", "good", "bad", "rolled-back", "aborted")
# Row: the record's status now; column: the status asked for (begin asks unfinished, the rest update).
#   move    the record takes the status asked for
#   keep    the record keeps its status; the request goes to its history and <asked>_requested_at
#   REFUSE  LedgerError, and nothing changes: only begin of a bad release, asked before any host changes
# Callers after hosts changed: bake (live, good), revert (bad, aborted; the previous one good),
# rollback finish (the one moved away from rolled-back, the target good), site.yml adopt (live, good).
OUTCOME_TABLE = """
               unfinished  live  good  bad   rolled-back  aborted
  unfinished   move        move  move  move  keep         move
  live         move        move  move  move  move         move
  good         move        move  move  move  move         keep
  bad          REFUSE      keep  keep  keep  keep         keep
  rolled-back  move        move  move  move  move         keep
  aborted      move        move  move  move  keep         move
"""
# What a release's first deploy recorded of the fleet before it, never overwritten by a later deploy of the same
# release (a resumed run, -e force=true): the snapshot taken before that first deploy stays the release's snapshot.
FIRST_DEPLOY_FIELDS = ("previous", "snapshot_id", "snapshot_services", "snapshot_skipped")
# Why a record keeps its status, by that status (the note a kept request leaves in its history).
KEEP_WHY = {
    "bad": "a bad release stays bad (never deployed again, never good)",
    "unfinished": "it never passed a deploy, so it is no rollback target",
    "aborted": "it never passed a deploy, so it is no rollback target",
    "good": "an environment failure says nothing about a release that passed",
    "rolled-back": "an environment failure says nothing about a release that passed",
}


def _outcomes(text: str) -> dict[str, dict[str, str]]:
    head, *rows = (line.split() for line in text.strip().splitlines())
    return {row[0]: dict(zip(head, (cell.lower() for cell in row[1:]))) for row in rows}


OUTCOMES = _outcomes(OUTCOME_TABLE)
# The moves alone, as before the table (kept for readers of the old name).
TRANSITIONS = {old: {new for new, outcome in row.items() if outcome == "move"} for old, row in OUTCOMES.items()}
SCHEMA = 1


class LedgerError(Exception):
    """A request the ledger refuses; the message says why and what to do."""


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> float:
    """Epoch seconds of an ISO 8601 UTC time written by utc_now()."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def check_release(release: str) -> str:
    if not isinstance(release, str) or not RELEASE_RE.match(release):
        raise LedgerError(f"{release!r} is not a release id (letters, digits, '.', '_', '-'; at most 128)")
    return release


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write: temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


class Ledger:
    """Release records of one environment under root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.releases = self.root / "releases"

    # --- reading --------------------------------------------------------------------------
    def get(self, release: str) -> dict[str, Any] | None:
        return read_json(self.releases / f"{check_release(release)}.json")

    def records(self) -> list[dict[str, Any]]:
        """Every record, oldest deploy first (by `created`, then release id)."""
        found = []
        for path in sorted(self.releases.glob("*.json")) if self.releases.is_dir() else []:
            record = read_json(path)
            if record and record.get("release"):
                found.append(record)
        return sorted(found, key=lambda r: (r.get("created", ""), r["release"]))

    def current(self) -> str:
        data = read_json(self.root / "current.json") or {}
        return str(data.get("release", ""))

    # --- decisions ------------------------------------------------------------------------
    def last_good(self, exclude: Iterable[str] = ()) -> str:
        """The newest good release (by when it last became good), excluding some ids; '' if none."""
        skip = set(exclude)
        good = [r for r in self.records() if r.get("status") == "good" and r["release"] not in skip]
        good.sort(key=lambda r: (r.get("good_at") or r.get("updated", ""), r.get("created", "")))
        return good[-1]["release"] if good else ""

    def rollback_target(self, requested: str = "", running: str | None = None) -> dict[str, Any]:
        """The release a rollback goes to, with the reason; raises LedgerError naming the choices.

        Default: the last good release other than the one running now. An explicit request must be a
        known release that is not bad (good or rolled-back); the running release itself is refused.
        `running` is what the app hosts were seen to run ('' when they differ): it replaces current.json,
        so after an interrupted run the last good release is a target even if the ledger called it current.
        """
        current = self.current() if running is None else running
        records = {r["release"]: r for r in self.records()}
        choices = [r for r in records.values() if r.get("status") in ("good", "rolled-back") and r["release"] != current]
        listing = ", ".join(f"{r['release']} ({r['status']})" for r in sorted(choices, key=lambda r: r.get("created", ""))) or "none"
        if requested:
            if not RELEASE_RE.match(requested):
                raise LedgerError(f"rollback_to={requested!r} is not a release id; known releases to roll back to: {listing}")
            record = records.get(requested)
            if record is None:
                raise LedgerError(f"rollback_to={requested} is not in the ledger; known releases to roll back to: {listing}")
            if record.get("status") == "bad":
                raise LedgerError(f"rollback_to={requested} is a bad release (failed {record.get('failed_at', '?')}: "
                                  f"{record.get('failure', '')}); it is kept for inspection only. Choose one of: {listing}")
            if requested == current:
                raise LedgerError(f"rollback_to={requested} is the release running now; choose one of: {listing}")
            if record.get("status") not in ("good", "rolled-back"):
                raise LedgerError(f"rollback_to={requested} is {record.get('status')} (never passed a deploy); choose one of: {listing}")
            return {"release": requested, "reason": "requested", "record": record, "current": current}
        target = self.last_good(exclude=[current])
        if not target:
            raise LedgerError(f"no good release other than the running one ({current or 'none'}) to roll back to; "
                              f"known: {listing}")
        return {"release": target, "reason": "last good release before the running one", "record": records[target], "current": current}

    def contract_between(self, target: str, current: str) -> list[str]:
        """Releases deployed after target up to current whose migrations were contracting."""
        ordered = [r["release"] for r in self.records()]
        if target not in ordered:
            return []
        after = ordered[ordered.index(target) + 1:]
        if current in after:
            after = after[: after.index(current) + 1]
        records = {r["release"]: r for r in self.records()}
        return [rel for rel in after if (records[rel].get("migrations") or {}).get("contract") and (records[rel].get("migrations") or {}).get("ran")]

    def protected(self, keep_bad_days: float = 7.0, now: float | None = None) -> list[str]:
        """Release ids pruning must keep: current, last good, unfinished/live/aborted ones, and bad ones younger than keep_bad_days."""
        now = time.time() if now is None else now
        keep = {self.current(), self.last_good()}
        for record in self.records():
            status = record.get("status")
            if status in ("unfinished", "live", "aborted"):  # may still be on some hosts
                keep.add(record["release"])
            if status == "bad":
                failed = record.get("failed_at") or record.get("updated") or record.get("created")
                if failed and now - parse_time(failed) < keep_bad_days * 86400:
                    keep.add(record["release"])
        return sorted(k for k in keep if k)

    # --- writing --------------------------------------------------------------------------
    def deployable(self, release: str) -> dict[str, Any] | None:
        """The release's record (None when new); a bad release is refused (an aborted one is not). Changes nothing:
        deploy.yml asks this before its preflight, so a failed release is turned away in seconds, and begin() asks it again."""
        check_release(release)
        record = self.get(release)
        if record and record.get("status") == "bad":
            raise LedgerError(
                f"release {release} failed on {record.get('failed_at', '?')} ({record.get('failure', 'no reason recorded')}) "
                f"and is kept for inspection only: a failed release is never deployed again. Change the code "
                f"(a new release id), or roll back with playbooks/rollback.yml.")
        return record

    def begin(self, release: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Start (or resume) a deploy of release: its record becomes unfinished. A bad release is refused.
        A release deployed before (a resumed run, -e force=true) keeps what its first deploy recorded of the
        fleet before it (FIRST_DEPLOY_FIELDS): its snapshot is the one taken before that first deploy."""
        record = self.deployable(release)
        now = utc_now()
        if record is None:
            record = {"schema": SCHEMA, "release": release, "created": now, "history": [], "deploys": 0}
        record["deploys"] = int(record.get("deploys", 0)) + 1
        self._set(record, "unfinished", "deploy started", now)
        record.update({k: v for k, v in fields.items() if v is not None and not (k in FIRST_DEPLOY_FIELDS and k in record)})
        self._save(record, now)
        return record

    def update(self, release: str, fields: dict[str, Any], status: str = "", note: str = "") -> dict[str, Any]:
        record = self.get(release)
        if record is None:
            raise LedgerError(f"release {release} is not in the ledger")
        now = utc_now()
        for key, value in fields.items():
            if key.endswith("+"):
                record.setdefault(key[:-1], []).extend(value if isinstance(value, list) else [value])
            elif key == "phases" and isinstance(value, dict):
                record.setdefault("phases", {}).update(value)
            elif value is not None:
                record[key] = value
        if status:
            self._set(record, status, note, now)
        elif note:
            record.setdefault("history", []).append({"time": now, "status": record.get("status"), "note": note})
        self._save(record, now)
        return record

    def set_current(self, release: str) -> bool:
        """Point current.json at release; True when it changed."""
        check_release(release)
        if self.current() == release:
            return False
        write_json(self.root / "current.json", {"release": release, "since": utc_now()})
        return True

    def _set(self, record: dict[str, Any], status: str, note: str, now: str) -> None:
        """Apply a status request as OUTCOMES says (move, keep with a note, or refuse)."""
        if status not in STATUSES:
            raise LedgerError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        old = str(record.get("status") or "")
        outcome = OUTCOMES.get(old, {}).get(status, "move")  # a new record (or one of an unknown status) moves
        if outcome == "refuse":
            raise LedgerError(f"release {record['release']} cannot go from {old} to {status}")
        if outcome == "keep":
            record[f"{status.replace('-', '_')}_requested_at"] = now
            why = f"asked to become {status}, stays {old}: {KEEP_WHY.get(old, 'kept')}"
            record.setdefault("history", []).append({"time": now, "status": old, "requested": status,
                                                     "note": f"{note}; {why}" if note else why})
            return
        record["status"] = status
        record[f"{status.replace('-', '_')}_at"] = now
        if status == "bad":
            record["failed_at"] = now
        record.setdefault("history", []).append({"time": now, "status": status, "note": note})

    def _save(self, record: dict[str, Any], now: str) -> None:
        record["updated"] = now
        write_json(self.releases / f"{record['release']}.json", record)


def table(records: list[dict[str, Any]], current: str) -> str:
    """The ledger as a fixed-width table, oldest first; the running release marked with *."""
    head = ("", "release", "status", "deployed", "by", "snapshot", "image", "migrations", "hosts")
    rows = [head]
    for r in records:
        mig = r.get("migrations") or {}
        rows.append((
            "*" if r["release"] == current else "",
            r["release"],
            r.get("status", "?"),
            r.get("created", ""),
            str(r.get("operator", "")),
            str(r.get("snapshot_id", "")) or "-",
            (str(r.get("image_id", "")).replace("sha256:", "")[:12]) or "-",
            ("ran" if mig.get("ran") else "none") + (" contract" if mig.get("contract") else ""),
            ",".join(r.get("hosts_switched") or []) or "-",
        ))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(str(v).ljust(widths[i]) for i, v in enumerate(row)).rstrip() for row in rows)


# --- lock --------------------------------------------------------------------------------------
# Seconds an unreadable lock file is left alone: acquire creates it (O_EXCL) before it writes the JSON.
UNREADABLE_GRACE = 10.0
JSON_KINDS = {"list": "an array", "str": "a string", "int": "a number", "float": "a number", "bool": "a boolean", "NoneType": "null"}


def iso_time(epoch: float) -> str:
    """epoch as utc_now() writes times."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def unreadable_token(data: bytes) -> str:
    """The token of an unreadable lock file: clear() with it removes exactly these bytes."""
    return "unreadable-" + hashlib.sha256(data).hexdigest()[:16]


def lock_record(data: bytes, mtime: float) -> dict[str, Any]:
    """The record in a lock file's bytes, or one saying why they are unreadable (times: the file's mtime)."""
    why = ""
    try:
        record = json.loads(data.decode("utf-8")) if data.strip() else None
    except json.JSONDecodeError as exc:
        why = f"not JSON ({exc.msg} at byte {exc.pos} of {len(data)})"
    except UnicodeDecodeError:
        why = "not JSON (not UTF-8)"
    else:
        if record is None and not data.strip():
            why = "empty"
        elif not isinstance(record, dict):
            why = f"not an object but {JSON_KINDS.get(type(record).__name__, 'a JSON value')}"
        elif not isinstance(record.get("token"), str) or not record["token"]:
            why = "an object without a token"
        else:
            return record
    stamp = iso_time(mtime)
    return {"unreadable": why, "token": unreadable_token(data), "started": stamp, "heartbeat": stamp}


class Lock:
    """The environment's deploy lock: <root>/deploy.lock, taken atomically, with a heartbeat."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / "deploy.lock"

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """One writer of an existing lock at a time (heartbeat, release, clear): the run's phases and its keeper
        (roles/deploy/files/lock_keeper.py) both beat, and a beat read before a release must not write the
        lock back after it, nor a release miss a file a beat replaced. flock on the lock's folder: no file is
        written for it (a run refused in its preflight writes nothing), and no folder means no lock to change."""
        try:
            folder = os.open(self.path.parent, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            yield
        finally:
            os.close(folder)  # closing the descriptor releases the flock

    def _load(self) -> tuple[dict[str, Any], os.stat_result] | None:
        """The record and the stat of the very file it was read from; None when there is no lock."""
        try:
            with open(self.path, "rb") as handle:
                data = handle.read()
                stat = os.fstat(handle.fileno())
        except FileNotFoundError:
            return None
        return lock_record(data, stat.st_mtime), stat

    def _remove(self, seen: os.stat_result) -> bool:
        """Unlink the lock file only while it is the file that was read, not one written since."""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            return False
        same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns)
        if same != (seen.st_dev, seen.st_ino, seen.st_size, seen.st_mtime_ns):
            return False
        self.path.unlink()
        return True

    def read(self) -> dict[str, Any] | None:
        """The holder's record; an unreadable file gives a record with `unreadable` (why) and its own token."""
        loaded = self._load()
        return loaded[0] if loaded else None

    def acquire(self, holder: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """(True, record) when taken now; (False, current holder) when someone holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        now = utc_now()
        record = dict(holder, token=secrets.token_hex(8), started=now, heartbeat=now)
        for _ in range(3):  # a lock released between our open and our read: try again
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                current = self.read()
                if current is not None:
                    return False, current
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            return True, record
        return False, {"note": "the lock was taken and released three times while we tried; try again", "started": now, "heartbeat": now}

    def heartbeat(self, token: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        with self._changing():
            record = self.read()
            if not record or record.get("token") != token:
                raise LedgerError(f"the deploy lock is no longer ours (holder now: {describe(record)})")
            record.update(fields or {})
            record["heartbeat"] = utc_now()
            write_json(self.path, record)
            return record

    def release(self, token: str) -> bool:
        """Remove the lock if it is ours; False when it was already gone or is someone else's."""
        with self._changing():
            loaded = self._load()
            if not loaded or loaded[0].get("token") != token:
                return False
            return self._remove(loaded[1])

    def clear(self, expected_token: str, dry_run: bool = False) -> bool:
        """Remove a lock whose token is expected_token (the stale one that was reported; an unreadable
        file's token is computed from its bytes). dry_run: only say whether it would be removed."""
        with contextlib.nullcontext() if dry_run else self._changing():
            loaded = self._load()
            if not loaded:
                return False
            if loaded[0].get("token") != expected_token:
                raise LedgerError(f"the lock changed since it was reported (holder now: {describe(loaded[0])}); not cleared")
            if dry_run or self._remove(loaded[1]):
                return True
            if self.path.exists():
                raise LedgerError(f"the lock changed while it was cleared (holder now: {describe(self.read())}); not cleared")
            return False


def lock_age(holder: dict[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds since the holder's heartbeat by the clock of the caller (None without a readable one)."""
    if not holder:
        return None
    try:
        beat = parse_time(str(holder.get("heartbeat") or holder.get("started")))
    except ValueError:
        return None
    return (time.time() if now is None else now) - beat


def same_controller(holder: dict[str, Any], local_controller: str, local_id: str) -> bool:
    """Whether holder ran where we run (its pid means something here): by controller_id, else by hostname."""
    if holder.get("controller_id"):
        return bool(local_id) and holder["controller_id"] == local_id
    return bool(local_controller) and holder.get("controller") == local_controller


def stale_reason(holder: dict[str, Any] | None, stale_after: float, local_controller: str = "",
                 pid_alive: Any = None, now: float | None = None, age: float | None = None,
                 local_id: str = "") -> str:
    """Why a lock holder is gone ('' when it may still be working).

    Gone when its heartbeat is older than stale_after seconds (age: as the state host measured it;
    else now minus its heartbeat), when it ran where we run (same controller_id as local_id; for
    records without one, same hostname as local_controller) and its process no longer exists
    (pid_alive(pid) is False), or when the lock file has been unreadable for UNREADABLE_GRACE seconds.
    """
    if not holder:
        return ""
    age = lock_age(holder, now) if age is None else float(age)
    if age is None:
        return "its record has no readable heartbeat"
    if holder.get("unreadable"):
        if age <= UNREADABLE_GRACE:
            return ""
        return f"the lock file is unreadable ({holder['unreadable']}) and unchanged for {int(age)} s"
    if pid_alive is not None and same_controller(holder, local_controller, local_id):
        try:
            pid = int(holder.get("pid") or 0)
        except (TypeError, ValueError):
            pid = 0
        if not pid_alive(pid):
            return f"its process {holder.get('pid')} on {holder.get('controller') or local_controller} no longer exists"
    if age > stale_after:
        return f"no heartbeat for {int(age)} s (limit {int(stale_after)} s)"
    return ""


def describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "nobody"
    if holder.get("unreadable"):
        return f"nobody known: the lock file is unreadable ({holder['unreadable']}), last written {holder.get('heartbeat', '?')}"
    if holder.get("note") and not holder.get("token"):
        return str(holder["note"])
    return (f"{holder.get('command', 'deploy')} of {holder.get('release') or '?'} by {holder.get('operator', '?')} "
            f"from {holder.get('controller', '?')} (pid {holder.get('pid', '?')}) since {holder.get('started', '?')}, "
            f"last heartbeat {holder.get('heartbeat', '?')}")
