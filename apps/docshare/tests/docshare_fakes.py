"""In-memory substitutes for the storage layer, Redis cache and job queue."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO

from docshare.models import Document, NewDocument, ProcessingResult
from docshare.storage import FileEntry, SavedFile, StorageFull, generate_stored_name


class MemoryRepository:
    def __init__(self) -> None:
        self.docs: dict[int, Document] = {}
        self._ids = itertools.count(1)
        self.fail_with: Exception | None = None
        self.pings = 0

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def add(self, new: NewDocument) -> Document:
        self._check()
        doc = Document(
            id=next(self._ids),
            name=new.name,
            stored_name=new.stored_name,
            content_type=new.content_type,
            size_bytes=new.size_bytes,
            created_at=datetime.now(UTC),
        )
        self.docs[doc.id] = doc
        return doc

    def get(self, doc_id: int) -> Document | None:
        self._check()
        return self.docs.get(doc_id)

    def list_recent(self, limit: int, offset: int = 0) -> list[Document]:
        self._check()
        ordered = sorted(self.docs.values(), key=lambda d: (d.created_at, d.id), reverse=True)
        return ordered[offset : offset + limit]

    def count(self) -> int:
        self._check()
        return len(self.docs)

    def record_processing(self, doc_id: int, result: ProcessingResult) -> bool:
        self._check()
        doc = self.docs.get(doc_id)
        if doc is None:
            return False
        self.docs[doc_id] = replace(
            doc,
            sha256=result.sha256,
            mime_type=result.mime_type,
            processed_size=result.size_bytes,
            processed_at=datetime.now(UTC),
            processing_error=result.error,
        )
        return True

    def unprocessed(self, min_age_seconds: float, limit: int) -> list[Document]:
        self._check()
        created_before = datetime.now(UTC) - timedelta(seconds=min_age_seconds)
        return [d for d in self.docs.values() if d.processed_at is None and d.created_at < created_before][:limit]

    def all_rows(self) -> list[Document]:
        return list(self.docs.values())

    def delete_ids(self, ids: Iterable[int]) -> int:
        return sum(self.docs.pop(i, None) is not None for i in list(ids))

    def ping(self) -> None:
        self.pings += 1
        self._check()


class MemoryBlobStore:
    """Files kept in a dict; ``path`` points into a temp dir where files are materialised on demand."""

    def __init__(self, root: Path, free: int = 10**12, min_free: int = 0) -> None:
        self.root = root
        self.files: dict[str, bytes] = {}
        self.free = free
        self.min_free = min_free

    def save(self, stream: IO[bytes], client_name: str) -> SavedFile:
        if self.free < self.min_free:
            raise StorageFull("disk full")
        name = generate_stored_name(client_name)
        data = stream.read()
        self.files[name] = data
        return SavedFile(stored_name=name, size=len(data))

    def path(self, stored_name: str) -> Path:
        target = self.root / stored_name
        if stored_name in self.files and not target.exists():
            target.write_bytes(self.files[stored_name])
        return target

    def exists(self, stored_name: str) -> bool:
        return stored_name in self.files

    def delete(self, stored_name: str) -> bool:
        return self.files.pop(stored_name, None) is not None

    def list_files(self) -> list[FileEntry]:
        return [FileEntry(name=n, size=len(b), mtime=0.0) for n, b in sorted(self.files.items())]

    def free_bytes(self) -> int:
        return self.free

    def open(self, stored_name: str) -> BinaryIO:
        return io.BytesIO(self.files[stored_name])


class FakeCache:
    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.generation = 0
        self.store: dict[str, bytes] = {}
        self.invalidations = 0

    def get(self) -> tuple[bytes | None, str | None]:
        if not self.available:
            return None, None
        token = str(self.generation)
        return self.store.get(token), token

    def put(self, token: str, payload: bytes) -> None:
        if self.available:
            self.store[token] = payload

    def invalidate(self) -> None:
        self.invalidations += 1
        if self.available:
            self.generation += 1


class FakeQueue:
    def __init__(self, available: bool = True) -> None:
        self.available = available
        self.jobs: list[int] = []

    def enqueue_processing(self, doc_id: int) -> bool:
        if not self.available:
            return False
        self.jobs.append(doc_id)
        return True

    def length(self) -> int | None:
        return len(self.jobs) if self.available else None
