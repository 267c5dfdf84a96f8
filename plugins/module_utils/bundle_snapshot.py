"""The bundle's snapshot contract, shared by the postgres, redis and nfs roles (docs/conventions.md#snapshots).

A snapshot is a directory <root>/<id>/ holding the files a role produced and, written last and
atomically, meta.json (schema 1). A directory without meta.json is "unsealed" (being written or an
interrupted run). This module holds everything the three roles share: id validation, the metadata
schema, sha256 of files and trees, sealing, verifying, listing and choosing what to prune.
Pure Python (standard library only): used by plugins/modules/*.py and unit-tested in tests/unit/.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

SCHEMA = 1
SERVICES = ("postgres", "redis", "nfs")
META = "meta.json"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # a release id: = bundle_ledger.py RELEASE_PATTERN (tests/unit/test_release_id.py)
ID_RE = re.compile(ID_PATTERN)
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# Replaced data (what a restore replaced) is named <prefix><UTC stamp>; the stamp gives its age.
STAMP_FORMAT = "%Y%m%d%H%M%S"
STAMP_RE = re.compile(r"(\d{8})T?(\d{6})$")
META_KEYS = ("schema", "id", "service", "release", "created", "host", "files", "size_bytes", "checks", "tool")
FILE_KEYS = ("name", "size", "sha256")
# Optional key of a file entry: the file is the sha256 manifest of that directory of the snapshot.
MANIFEST_KEY = "manifest_of"


class SnapshotError(Exception):
    """A snapshot operation cannot go on; the message says why and what to do."""


class Unsealed(NamedTuple):
    """A snapshot directory without meta.json; `mtime` is its newest activity (epoch seconds)."""

    id: str
    mtime: float


class Broken(NamedTuple):
    """A snapshot directory whose meta.json cannot be read or breaks the schema."""

    id: str
    error: str


class Scan(NamedTuple):
    sealed: list[dict[str, Any]]
    unsealed: list[Unsealed]
    broken: list[Broken]


# --- ids and times ---------------------------------------------------------------------------

def check_id(value: Any, variable: str = "snapshot id") -> str:
    """The id when valid, else SnapshotError naming `variable` (e.g. redis_snapshot_id)."""
    if not isinstance(value, str) or not ID_RE.match(value):
        raise SnapshotError(f"{variable} must match {ID_PATTERN} (letters, digits, '.', '_', '-', starting with a letter "
                            f"or digit, at most 128 characters); got {value!r}")
    return value


def check_service(value: Any) -> str:
    if value not in SERVICES:
        raise SnapshotError(f"service must be one of {', '.join(SERVICES)}; got {value!r}")
    return str(value)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment: datetime.datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. 2026-12-01T10:44:00.123456Z (sorts as text, too)."""
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_created(text: Any) -> datetime.datetime:
    """`created` of a meta.json as an aware datetime; ValueError unless ISO 8601 with a UTC offset."""
    if not isinstance(text, str):
        raise ValueError(f"created must be an ISO 8601 string, got {text!r}")
    moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.utcoffset() != datetime.timedelta(0):
        raise ValueError(f"created must be in UTC, got {text!r}")
    return moment


def stamp(moment: datetime.datetime) -> str:
    """yyyymmddhhmmss in UTC: the suffix of replaced data (app__replaced_20261201104400)."""
    return moment.astimezone(datetime.timezone.utc).strftime(STAMP_FORMAT)


def stamp_time(name: str, prefix: str) -> datetime.datetime | None:
    """The UTC time encoded in `<prefix><yyyymmdd[T]hhmmss>`, None when the name is not of that form."""
    if not name.startswith(prefix):
        return None
    match = STAMP_RE.fullmatch(name[len(prefix):])
    if not match:
        return None
    try:
        return datetime.datetime.strptime(match.group(1) + match.group(2), STAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


# --- files and trees -------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _inside(directory: Path, name: Any) -> Path:
    """directory/name for a relative name that stays inside directory (no '..', not absolute, not meta.json)."""
    if not isinstance(name, str) or not name:
        raise SnapshotError(f"a snapshot file name must be a non-empty string; got {name!r}")
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or rel.as_posix() in (".", META) or rel.as_posix() != name:
        raise SnapshotError(f"snapshot file {name!r} must be a plain path relative to the snapshot directory (not {META})")
    return directory / rel


def file_entry(directory: Path, name: Any, manifest_of: Any = None) -> dict[str, Any]:
    """{"name", "size", "sha256"} of a complete regular file of the snapshot (flushed to disk first)."""
    path = _inside(directory, name)
    if path.is_symlink() or not path.is_file():
        raise SnapshotError(f"snapshot file {path} is missing or not a regular file")
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    entry: dict[str, Any] = {"name": name, "size": path.stat().st_size, "sha256": sha256_file(path)}
    if manifest_of is not None:
        if not _inside(directory, manifest_of).is_dir():
            raise SnapshotError(f"{name} is the manifest of {manifest_of}, which is not a directory of the snapshot")
        entry[MANIFEST_KEY] = manifest_of
    return entry


def tree_size(tree: Path, exclude: Sequence[str] = ()) -> tuple[int, int]:
    """(regular files, bytes) under tree, symlinks not followed; names in `exclude` at the top are skipped."""
    files = size = 0
    for dirpath, _dirs, filenames in os.walk(tree):
        for name in filenames:
            full = Path(dirpath) / name
            if Path(dirpath) == tree and name in exclude:
                continue
            if full.is_file() and not full.is_symlink():
                files += 1
                size += full.stat().st_size
    return files, size


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


def manifest_text(manifest: Mapping[str, str]) -> str:
    """sha256sum-style text (`<hash>  <path>`), sorted by path: `sha256sum --check` reads it."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(manifest.items()))


def parse_manifest(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            digest, rel = line.split("  ", 1)
            out[rel] = digest
    return out


def manifest_diff(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    """Human-readable differences (missing, unexpected, changed), empty when equal."""
    diff = [f"missing {p}" for p in sorted(expected.keys() - actual.keys())]
    diff += [f"unexpected {p}" for p in sorted(actual.keys() - expected.keys())]
    diff += [f"changed {p}" for p in sorted(expected.keys() & actual.keys()) if expected[p] != actual[p]]
    return diff


# --- the metadata schema ---------------------------------------------------------------------

def build_meta(*, snapshot_id: str, service: str, release: str, created: str, host: str, files: list[dict[str, Any]],
               size_bytes: int, checks: Mapping[str, Any], tool: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "schema": SCHEMA, "id": snapshot_id, "service": service, "release": release, "created": created, "host": host,
        "files": files, "size_bytes": size_bytes, "checks": dict(checks),
        "tool": {"name": str(tool.get("name", "")), "version": str(tool.get("version", ""))},
    }


def _file_problems(files: Any) -> list[str]:
    if not isinstance(files, list) or not files:
        return ["files must be a non-empty list"]
    problems: list[str] = []
    for entry in files:
        if not isinstance(entry, dict) or not set(FILE_KEYS) <= set(entry) or set(entry) - {*FILE_KEYS, MANIFEST_KEY}:
            problems.append(f"file entry {entry!r} must have exactly name, size, sha256 (and optionally {MANIFEST_KEY})")
            continue
        if not isinstance(entry["size"], int) or isinstance(entry["size"], bool) or entry["size"] < 0:
            problems.append(f"file {entry['name']!r}: size must be a byte count")
        if not isinstance(entry["sha256"], str) or not SHA256_RE.match(entry["sha256"]):
            problems.append(f"file {entry['name']!r}: sha256 must be 64 lower-case hex digits")
    names = [e.get("name") for e in files if isinstance(e, dict)]
    if len(set(map(str, names))) != len(names):
        problems.append("file names must be unique")
    return problems


def schema_problems(meta: Any) -> list[str]:
    """What makes `meta` break schema 1 (empty when it is a valid meta.json)."""
    if not isinstance(meta, dict):
        return ["meta.json must hold a JSON object"]
    problems = [f"missing {k}" for k in META_KEYS if k not in meta]
    problems += [f"unknown key {k}" for k in sorted(set(meta) - set(META_KEYS))]
    if problems:
        return problems
    if meta["schema"] != SCHEMA:
        problems.append(f"schema must be {SCHEMA}, got {meta['schema']!r}")
    if not isinstance(meta["id"], str) or not ID_RE.match(meta["id"]):
        problems.append(f"id {meta['id']!r} does not match {ID_PATTERN}")
    if meta["service"] not in SERVICES:
        problems.append(f"service must be one of {', '.join(SERVICES)}, got {meta['service']!r}")
    if not isinstance(meta["release"], str) or (meta["release"] and not ID_RE.match(meta["release"])):
        problems.append(f"release must be empty or match {ID_PATTERN}, got {meta['release']!r}")
    try:
        parse_created(meta["created"])
    except ValueError as exc:
        problems.append(str(exc))
    if not isinstance(meta["host"], str) or not meta["host"]:
        problems.append("host must be a non-empty string")
    problems += _file_problems(meta["files"])
    if not isinstance(meta["size_bytes"], int) or isinstance(meta["size_bytes"], bool) or meta["size_bytes"] < 0:
        problems.append("size_bytes must be a byte count")
    if not isinstance(meta["checks"], dict):
        problems.append("checks must be an object")
    tool = meta["tool"]
    if not isinstance(tool, dict) or set(tool) != {"name", "version"} or not all(isinstance(v, str) and v for v in tool.values()):
        problems.append("tool must be {name, version}, both non-empty strings")
    return problems


def read_meta(directory: Path) -> dict[str, Any]:
    """meta.json of a snapshot directory, checked against the schema and the directory's name."""
    path = directory / META
    try:
        meta: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path} cannot be read as JSON: {exc}") from exc
    problems = schema_problems(meta)
    if not problems and meta["id"] != directory.name:
        problems.append(f"id {meta['id']!r} differs from the directory name {directory.name!r}")
    if problems:
        raise SnapshotError(f"{path} breaks the snapshot schema: {'; '.join(problems)}")
    return meta


# --- verify and seal -------------------------------------------------------------------------

def verify_dir(directory: Path) -> dict[str, Any]:
    """meta.json of a sealed snapshot whose files (and manifested trees) all match it; SnapshotError otherwise."""
    meta = read_meta(directory)
    problems: list[str] = []
    for entry in meta["files"]:
        try:
            path = _inside(directory, entry["name"])
        except SnapshotError as exc:
            problems.append(str(exc))
            continue
        if path.is_symlink() or not path.is_file():
            problems.append(f"{entry['name']} is missing")
            continue
        if path.stat().st_size != entry["size"]:
            problems.append(f"{entry['name']} has {path.stat().st_size} bytes, meta.json says {entry['size']}")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['name']} does not match its sha256 in meta.json")
        elif MANIFEST_KEY in entry:
            tree = _inside(directory, entry[MANIFEST_KEY])
            diff = manifest_diff(parse_manifest(path.read_text()), build_manifest(tree) if tree.is_dir() else {})
            problems += [f"{entry[MANIFEST_KEY]}: {d}" for d in diff[:10]]
    if problems:
        raise SnapshotError(f"snapshot {directory.name} in {directory.parent} fails verification: {'; '.join(problems)}")
    return meta


def verify(root: Path, snapshot_id: str, variable: str = "snapshot id") -> dict[str, Any]:
    directory = Path(root) / check_id(snapshot_id, variable)
    if not (directory / META).is_file():
        state = "is unsealed (no meta.json: interrupted or still being written)" if directory.is_dir() else "does not exist"
        raise SnapshotError(f"snapshot {snapshot_id} in {root} {state}; see the snapshot list")
    return verify_dir(directory)


def is_sealed(root: Path, snapshot_id: str) -> bool:
    return (Path(root) / snapshot_id / META).is_file()


def write_json_atomic(path: Path, data: Any, uid: int = -1, gid: int = -1, mode: int = 0o640) -> None:
    """Write JSON to a temporary file beside `path`, flush it to disk, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        if uid >= 0 or gid >= 0:
            os.chown(tmp, uid, gid)
        os.rename(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def seal(root: Path, snapshot_id: str, *, service: str, release: str, files: Iterable[Any], checks: Mapping[str, Any],
         tool: Mapping[str, Any], host: str, now: datetime.datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """Write meta.json for the files the role produced in <root>/<id>/. Returns (changed, meta).

    An id that is already sealed is verified and left alone (changed False); a sealed id of another
    service is refused. `files` are names relative to the snapshot directory, or
    {"name", "manifest_of"} for a sha256 manifest of a directory of the snapshot.
    """
    service = check_service(service)
    variable = f"{service}_snapshot_id"
    directory = Path(root) / check_id(snapshot_id, variable)
    if (directory / META).is_file():
        meta = verify_dir(directory)
        if meta["service"] != service:
            raise SnapshotError(f"snapshot {snapshot_id} in {root} is sealed for {meta['service']}, not {service}")
        return False, meta
    if release and not ID_RE.match(release):
        raise SnapshotError(f"{service}_snapshot_release must be empty or match {ID_PATTERN}; got {release!r}")
    if not directory.is_dir():
        raise SnapshotError(f"{directory} does not exist: the role produces its files there before sealing")
    entries = []
    for item in files:
        if isinstance(item, Mapping):
            entries.append(file_entry(directory, item.get("name"), item.get(MANIFEST_KEY)))
        else:
            entries.append(file_entry(directory, item))
    meta = build_meta(snapshot_id=snapshot_id, service=service, release=release, created=iso(now or utc_now()), host=host,
                      files=entries, size_bytes=tree_size(directory, exclude=(META,))[1], checks=checks, tool=tool)
    problems = schema_problems(meta)
    if problems:
        raise SnapshotError(f"snapshot {snapshot_id} cannot be sealed: {'; '.join(problems)}")
    try:
        json.dumps(meta)
    except (TypeError, ValueError) as exc:
        raise SnapshotError(f"checks of snapshot {snapshot_id} are not JSON: {exc}") from exc
    info = directory.stat()
    write_json_atomic(directory / META, meta, info.st_uid, info.st_gid)
    return True, meta


# --- list and prune --------------------------------------------------------------------------

def _newest_activity(directory: Path) -> float:
    newest = directory.stat().st_mtime
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except OSError:
                continue
    return newest


def newest_first(metas: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted((dict(m) for m in metas), key=lambda m: (parse_created(m["created"]), m["id"]), reverse=True)


def scan(root: Path) -> Scan:
    """Snapshot directories under root (names that are valid ids; others such as .replaced are not snapshots)."""
    sealed: list[dict[str, Any]] = []
    unsealed: list[Unsealed] = []
    broken: list[Broken] = []
    root = Path(root)
    if not root.is_dir():
        return Scan([], [], [])
    for child in sorted(root.iterdir()):
        if child.is_symlink() or not child.is_dir() or not ID_RE.match(child.name):
            continue
        if not (child / META).exists():
            unsealed.append(Unsealed(child.name, _newest_activity(child)))
            continue
        try:
            sealed.append(read_meta(child))
        except SnapshotError as exc:
            broken.append(Broken(child.name, str(exc)))
    return Scan(newest_first(sealed), unsealed, broken)


def prune_plan(sealed_newest_first: Sequence[Mapping[str, Any]], keep: int, protected: Iterable[str]) -> list[str]:
    """Ids to remove so that the `keep` newest unprotected sealed snapshots remain; protected ids are never removed nor counted."""
    if not isinstance(keep, int) or keep < 1:
        raise SnapshotError(f"keep must be at least 1; got {keep!r}")
    shielded = set(protected)
    candidates = [str(s["id"]) for s in sealed_newest_first if s["id"] not in shielded]
    return candidates[keep:]


def unsealed_plan(unsealed: Iterable[Unsealed], grace_seconds: float, now: float, protected: Iterable[str]) -> list[str]:
    """Unsealed leftovers idle for longer than the grace period (a run still writing is younger)."""
    shielded = set(protected)
    return [u.id for u in unsealed if u.id not in shielded and now - u.mtime > grace_seconds]


def prune(root: Path, keep: int, protected: Sequence[str], grace_seconds: float, now: datetime.datetime | None = None,
          check_mode: bool = False) -> dict[str, Any]:
    """Remove what prune_plan and unsealed_plan choose. Broken snapshots are reported, never removed."""
    found = scan(root)
    removed = prune_plan(found.sealed, keep, protected)
    leftovers = unsealed_plan(found.unsealed, grace_seconds, (now or utc_now()).timestamp(), protected)
    if not check_mode:
        for snapshot_id in removed + leftovers:
            shutil.rmtree(Path(root) / check_id(snapshot_id))
    return {"removed": removed, "removed_unsealed": leftovers, "broken": [b._asdict() for b in found.broken]}


def replaced_plan(names: Iterable[str], prefix: str, keep_days: int, now: datetime.datetime | None = None) -> list[str]:
    """Names of replaced data (<prefix><stamp>) older than keep_days; names of any other form are never chosen."""
    if not isinstance(keep_days, int) or keep_days < 0:
        raise SnapshotError(f"replaced_keep_days must be 0 or more; got {keep_days!r}")
    limit = (now or utc_now()) - datetime.timedelta(days=keep_days)
    chosen = []
    for name in names:
        moment = stamp_time(name, prefix)
        if moment is not None and moment < limit:
            chosen.append(name)
    return sorted(chosen)


def replaced_prune(directory: Path, prefix: str, keep_days: int, now: datetime.datetime | None = None,
                   check_mode: bool = False) -> list[str]:
    """Remove the directories <directory>/<prefix><stamp> older than keep_days; returns their names."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    names = [p.name for p in directory.iterdir() if p.is_dir() and not p.is_symlink()]
    expired = replaced_plan(names, prefix, keep_days, now)
    if not check_mode:
        for name in expired:
            shutil.rmtree(directory / name)
    return expired
