"""Filters for the app role: release ids from a source tree, tags inside image archives.

app_tree_hash:       content hash of a source tree (paths + bytes), skipping .dockerignore-style patterns
app_release_id:      "<revision or 'src'>-<hash of tree hash + Dockerfile + build args>"
app_archive_tags:    the RepoTags recorded in a `docker save` archive (manifest.json)
app_images_to_prune: release tags to delete, keeping the newest N and the protected ones
app_build_arg_flags: `docker build --build-arg` flags from a dict
app_url_without_credentials: a URL with its user:password@ part removed (release ids must not hash tokens)
app_redact:          container output with connection-string passwords and app_env values masked
app_slot_state:      the host's slot state (active slot, release per slot and worker) from its state files
app_log_hints:       the inventory variable to look at, for errors a container's log shows that the inventory causes
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import tarfile
from typing import Any, Iterable
from urllib.parse import quote

RELEASE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # = module_utils/bundle_ledger.py RELEASE_PATTERN (tests/unit/test_release_id.py)


def _ignored(rel: str, patterns: Iterable[str]) -> bool:
    """True when a relative path or any of its parent folders matches a pattern."""
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.strip().rstrip("/")
        if not pat or pat.startswith("#"):
            continue
        pat = pat.lstrip("/")
        if pat.startswith("**/"):
            pat = pat[3:]
        if fnmatch.fnmatch(rel, pat):
            return True
        if any(fnmatch.fnmatch(part, pat) for part in parts):
            return True
    return False


def app_tree_hash(path: str, ignore: Iterable[str] | None = None) -> str:
    """sha256 over the sorted relative paths, modes (executable bit) and contents of a tree."""
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(root):
        raise ValueError(f"app_tree_hash: {path} is not a directory")
    patterns = list(ignore or [])
    digest = hashlib.sha256()
    for current, dirs, files in os.walk(root):
        dirs.sort()
        rel_dir = os.path.relpath(current, root)
        dirs[:] = [d for d in dirs if not _ignored(os.path.normpath(os.path.join(rel_dir, d)), patterns)]
        for name in sorted(files):
            full = os.path.join(current, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if _ignored(rel, patterns) or not os.path.isfile(full):
                continue
            digest.update(rel.encode() + b"\0")
            digest.update(b"x" if os.access(full, os.X_OK) else b"-")
            with open(full, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()


def app_release_id(tree_hash: str, revision: str = "", dockerfile: str = "",
                   build_args: dict[str, Any] | None = None, length: int = 12) -> str:
    """Release id: source revision (or 'src') plus a content hash of tree, Dockerfile and build args."""
    digest = hashlib.sha256()
    digest.update(tree_hash.encode() + b"\0")
    digest.update(dockerfile.encode() + b"\0")
    digest.update(json.dumps(build_args or {}, sort_keys=True, default=str).encode())
    rev = re.sub(r"[^A-Za-z0-9_.-]", "", (revision or "").strip())[:40] or "src"
    release = f"{rev}-{digest.hexdigest()[:length]}"
    if not RELEASE_RE.match(release):
        raise ValueError(f"app_release_id: invalid release id {release!r}")
    return release


def app_archive_tags(path: str) -> list[str]:
    """RepoTags of every image in a `docker save` archive."""
    with tarfile.open(os.path.expanduser(path)) as archive:
        member = archive.extractfile("manifest.json")
        if member is None:
            raise ValueError(f"app_archive_tags: {path} has no manifest.json")
        manifest = json.load(member)
    return [tag for image in manifest for tag in (image.get("RepoTags") or [])]


def app_images_to_prune(images: list[dict[str, Any]], keep: int, protected: Iterable[str] = ()) -> list[str]:
    """Tags to remove: images are {tag, created} dicts; keep the newest `keep` and every protected tag."""
    guarded = {p for p in protected if p}
    ordered = sorted(images, key=lambda i: str(i.get("created", "")), reverse=True)
    kept = 0
    remove: list[str] = []
    for image in ordered:
        tag = str(image["tag"])
        if tag in guarded:
            continue
        if kept < max(keep, 0):
            kept += 1
            continue
        remove.append(tag)
    return remove


def app_image_list(text: str) -> list[dict[str, str]]:
    """Parse `docker image ls --format '{{.Tag}}\\t{{.CreatedAt}}'` output; untagged images are skipped."""
    images: list[dict[str, str]] = []
    for line in text.splitlines():
        tag, _, created = line.partition("\t")
        if tag and tag != "<none>":
            images.append({"tag": tag, "created": created})
    return images


def app_tags_in_use(images: Iterable[str], repository: str) -> list[str]:
    """Tags of `repository` among the image references of containers (`docker ps --format '{{.Image}}'`)."""
    prefix = repository + ":"
    return [ref[len(prefix):] for ref in images if ref.startswith(prefix)]


def app_build_arg_flags(build_args: dict[str, Any] | None) -> list[str]:
    """`docker build` flags for a dict of build arguments: ['--build-arg', 'K=V', ...] sorted by key."""
    flags: list[str] = []
    for key in sorted(build_args or {}):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"app_build_arg_flags: invalid build argument name {key!r}")
        flags += ["--build-arg", f"{key}={build_args[key]}"]  # type: ignore[index]
    return flags


_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*)(?::(?P<password>[^@/\s]*))?@")
MASK = "***"


def app_url_without_credentials(url: str) -> str:
    """'https://user:token@host/simple' -> 'https://host/simple'; other strings unchanged."""
    return _URL_CREDENTIALS.sub(lambda m: m["scheme"], url or "")


def app_redact(text: str, env: dict[str, Any] | None = None, min_length: int = 6) -> str:
    """Mask what could be a secret in output shown to operators.

    Passwords in URLs (scheme://user:PASSWORD@) become ***, and so does every value of `env` (the
    containers' environment) at least `min_length` characters long, as written and URL-encoded.
    """
    masked = _URL_CREDENTIALS.sub(
        lambda m: f"{m['scheme']}{m['user']}:{MASK}@" if m["password"] is not None else m[0], text or "")
    secrets: set[str] = set()
    for value in (env or {}).values():
        value = str(value)
        if len(value) >= min_length:
            secrets.add(value)
            secrets.add(quote(value, safe=""))
    for secret in sorted(secrets, key=len, reverse=True):
        masked = masked.replace(secret, MASK)
    return masked


def _conf_value(text: str, key: str) -> str:
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return ""


def app_slot_state(files: dict[str, str], units: dict[str, str], slots: Iterable[str] = ("blue", "green")) -> dict[str, Any]:
    """The switch state of a host from its files and units.

    `files` maps 'active-slot', 'web-<slot>.conf' and 'worker.conf' to their contents ('' when
    missing); `units` maps 'web-<slot>' and 'worker' to their systemd ActiveState. Returns
    {active: slot or '', slots: {slot: {release, running}}, worker: {release, running}, release:
    the active slot's release ('' when none runs), idle: the other slot}.
    """
    slots = list(slots)
    active = (files.get("active-slot") or "").strip()
    if active not in slots:
        active = ""
    state: dict[str, Any] = {"active": active, "slots": {}}
    for slot in slots:
        state["slots"][slot] = {
            "release": _conf_value(files.get(f"web-{slot}.conf", ""), "APP_RELEASE"),
            "running": units.get(f"web-{slot}") == "active",
        }
    state["worker"] = {"release": _conf_value(files.get("worker.conf", ""), "APP_RELEASE"), "running": units.get("worker") == "active"}
    current = state["slots"].get(active) if active else None
    state["release"] = current["release"] if current and current["running"] else ""
    state["idle"] = slots[1] if active == slots[0] else slots[0]
    return state


# A refusal in a container's log that the inventory causes -> what to look at. Matched on the whole log text.
LOG_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"NOPERM|NoPermissionError"),
     "Redis refused the app's user a command, key or channel (NOPERM): its rules are redis_app_acl (roles/redis); "
     "an RQ 1.x worker, for one, needs +client|list."),
    (re.compile(r"WRONGPASS|invalid username-password pair"),
     "Redis refused the app's user and password: redis_app_user and redis_app_password must be the ones the Redis "
     "hosts were converged with (roles/redis)."),
    (re.compile(r"password authentication failed for user"),
     "PostgreSQL refused the app's password: postgres_db_password must be the one the db hosts were converged with "
     "(roles/postgres)."),
    (re.compile(r"no pg_hba\.conf entry for host"),
     "PostgreSQL does not admit this host: it must be in postgres_client_group or postgres_extra_clients (roles/postgres)."),
)


def app_log_hints(text: str) -> list[str]:
    """What to look at in the inventory for the refusals a container's log shows (in the order of LOG_HINTS)."""
    return [hint for pattern, hint in LOG_HINTS if pattern.search(str(text or ""))]


class FilterModule:
    """Ansible filter plugin entry point."""

    def filters(self) -> dict[str, Any]:
        return {
            "app_tree_hash": app_tree_hash,
            "app_release_id": app_release_id,
            "app_archive_tags": app_archive_tags,
            "app_images_to_prune": app_images_to_prune,
            "app_build_arg_flags": app_build_arg_flags,
            "app_image_list": app_image_list,
            "app_tags_in_use": app_tags_in_use,
            "app_url_without_credentials": app_url_without_credentials,
            "app_redact": app_redact,
            "app_slot_state": app_slot_state,
            "app_log_hints": app_log_hints,
        }
