"""Document files on the shared volume.

Files get generated names (``<uuid4 hex>[.<ext>]``); the client's file name is kept only as
display metadata in the database and never used to build a path.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

STORED_NAME_RE = re.compile(r"^[0-9a-f]{32}(\.[a-z0-9]{1,10})?$")
UPLOAD_PREFIX = ".upload-"
UPLOAD_SUFFIX = ".part"
HEALTH_PREFIX = ".health-"
_EXT_RE = re.compile(r"^[a-z0-9]{1,10}$")
_CHUNK = 1024 * 1024


def safe_extension(client_name: str) -> str:
    """Lower-case extension of ``client_name`` if it is short and alphanumeric, else ''."""
    base = client_name.replace("\\", "/").rsplit("/", 1)[-1]
    if "." not in base.strip("."):
        return ""
    ext = base.rsplit(".", 1)[-1].lower()
    return ext if _EXT_RE.match(ext) else ""


def generate_stored_name(client_name: str) -> str:
    """A fresh stored name for an upload called ``client_name``."""
    ext = safe_extension(client_name)
    return uuid.uuid4().hex + (f".{ext}" if ext else "")


def is_stored_name(name: str) -> bool:
    """True if ``name`` has the shape of a name this app generated."""
    return bool(STORED_NAME_RE.match(name))


def display_name(client_name: str | None, max_length: int = 200) -> str:
    """A printable, path-free version of the client's file name for display and downloads."""
    base = (client_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip().strip(".")
    if not cleaned:
        return "document"
    if len(cleaned) > max_length:
        ext = safe_extension(cleaned)
        keep = max_length - (len(ext) + 1 if ext else 0)
        cleaned = cleaned[:keep] + (f".{ext}" if ext else "")
    return cleaned


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class SavedFile:
    stored_name: str
    size: int


class StorageFull(Exception):
    """Not enough free space on the documents volume to accept an upload."""


class BlobStore(Protocol):
    """What the web app and the worker need from file storage."""

    def save(self, stream: IO[bytes], client_name: str) -> SavedFile: ...

    def path(self, stored_name: str) -> Path: ...

    def exists(self, stored_name: str) -> bool: ...

    def delete(self, stored_name: str) -> bool: ...

    def list_files(self) -> list[FileEntry]: ...

    def free_bytes(self) -> int: ...


class FileStore:
    """A :class:`BlobStore` on a local or NFS-mounted directory."""

    def __init__(self, root: str | os.PathLike[str], min_free_bytes: int = 0) -> None:
        self.root = Path(root)
        self.min_free_bytes = min_free_bytes

    def path(self, stored_name: str) -> Path:
        if not is_stored_name(stored_name):
            raise ValueError(f"not a stored document name: {stored_name!r}")
        return self.root / stored_name

    def exists(self, stored_name: str) -> bool:
        return self.path(stored_name).is_file()

    def free_bytes(self) -> int:
        return shutil.disk_usage(self.root).free

    def save(self, stream: IO[bytes], client_name: str) -> SavedFile:
        """Write ``stream`` to a temporary file, fsync it, then rename it into place."""
        if self.free_bytes() < self.min_free_bytes:
            raise StorageFull(f"less than {self.min_free_bytes} bytes free in {self.root}")
        stored_name = generate_stored_name(client_name)
        tmp = self.root / f"{UPLOAD_PREFIX}{uuid.uuid4().hex}{UPLOAD_SUFFIX}"
        size = 0
        try:
            with open(tmp, "xb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, self.root / stored_name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return SavedFile(stored_name=stored_name, size=size)

    def delete(self, stored_name: str) -> bool:
        try:
            self.path(stored_name).unlink()
        except FileNotFoundError:
            return False
        return True

    def delete_raw(self, name: str) -> bool:
        """Delete a temporary upload file (``.upload-*.part``) left by a crashed upload."""
        if not (name.startswith(UPLOAD_PREFIX) and name.endswith(UPLOAD_SUFFIX) and "/" not in name):
            raise ValueError(f"not a temporary upload name: {name!r}")
        try:
            (self.root / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def quarantine(self, name: str, folder: str | os.PathLike[str]) -> bool:
        """Move a stored file or a temporary upload into ``folder`` instead of deleting it.

        The folder is created (group-writable, setgid like the share) when missing; a file already
        gone returns False. Nothing but this app's own names is ever moved.
        """
        if not (is_stored_name(name) or (name.startswith(UPLOAD_PREFIX) and name.endswith(UPLOAD_SUFFIX) and "/" not in name)):
            raise ValueError(f"not a document or temporary upload name: {name!r}")
        target = Path(folder)
        target.mkdir(mode=0o2770, parents=True, exist_ok=True)
        try:
            shutil.move(str(self.root / name), str(target / name))
        except FileNotFoundError:
            return False
        return True

    def iter_entries(self) -> Iterator[FileEntry]:
        with os.scandir(self.root) as it:
            for entry in it:
                try:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield FileEntry(name=entry.name, size=st.st_size, mtime=st.st_mtime)

    def list_files(self) -> list[FileEntry]:
        return sorted(self.iter_entries(), key=lambda e: e.name)

    def probe_writable(self) -> None:
        """Create, fsync and remove a small file; raise OSError when the volume is not writable."""
        probe = self.root / f"{HEALTH_PREFIX}{socket.gethostname()}-{os.getpid()}"
        try:
            with open(probe, "wb") as out:
                out.write(b"ok")
                out.flush()
                os.fsync(out.fileno())
        finally:
            probe.unlink(missing_ok=True)
