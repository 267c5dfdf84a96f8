"""Static assets with content-hashed names and a manifest (``manifest.json``)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath

MANIFEST = "manifest.json"
HASH_LENGTH = 8
SOURCE_DIR = Path(__file__).resolve().parent.parent / "static"


def hashed_name(relative: str, content: bytes) -> str:
    """``css/app.css`` + content -> ``css/app.3f2a9c1b.css`` (first 8 hex of sha256)."""
    digest = hashlib.sha256(content).hexdigest()[:HASH_LENGTH]
    path = PurePosixPath(relative)
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: -len(suffix)] if suffix else path.name
    return str(path.with_name(f"{stem}.{digest}{suffix}"))


def collect_sources(src: Path, exclude: set[str] | None = None) -> list[str]:
    """Relative POSIX paths of source assets under ``src`` (no dotfiles, no manifest)."""
    exclude = exclude or set()
    found: list[str] = []
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name == MANIFEST:
                continue
            rel = Path(root, name).relative_to(src).as_posix()
            if rel not in exclude:
                found.append(rel)
    return found


def build_manifest(src: Path, sources: list[str]) -> dict[str, str]:
    return {rel: hashed_name(rel, (src / rel).read_bytes()) for rel in sources}


def build_static(src: Path, out: Path) -> dict[str, str]:
    """Copy assets from ``src`` to ``out`` under hashed names (and their plain names), write the manifest.

    Safe to run again, also when ``out`` is ``src``: files named in an existing manifest are
    outputs, not sources.
    """
    out.mkdir(parents=True, exist_ok=True)
    previous = load_manifest(out) if out.resolve() == src.resolve() else {}
    manifest = build_manifest(src, collect_sources(src, exclude=set(previous.values())))
    for rel, hashed in manifest.items():
        for target in {rel, hashed}:
            dest = out / target
            if dest.resolve() == (src / rel).resolve():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, dest)
    tmp = out / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out / MANIFEST)
    return manifest


def load_manifest(static_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((static_dir / MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


class AssetResolver:
    """Maps a logical asset name to its URL through the manifest (plain name when absent)."""

    def __init__(self, static_dir: Path, url_prefix: str = "/static/") -> None:
        self.static_dir = static_dir
        self.url_prefix = url_prefix
        self.manifest = load_manifest(static_dir)
        self.hashed = set(self.manifest.values())

    def url(self, name: str) -> str:
        return self.url_prefix + self.manifest.get(name, name)

    def is_immutable(self, filename: str) -> bool:
        return filename in self.hashed
