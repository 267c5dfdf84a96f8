"""Document metadata: the repository interface and its PostgreSQL implementation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .models import Document, NewDocument, ProcessingResult

if TYPE_CHECKING:  # keeps this module importable without psycopg (pure unit tests)
    from .db import Database

_COLUMNS = (
    "id, name, stored_name, content_type, size_bytes, created_at, "
    "sha256, mime_type, processed_size, processed_at, processing_error"
)


class DocumentRepository(Protocol):
    """What the app needs from metadata storage; tests substitute an in-memory fake."""

    def add(self, new: NewDocument) -> Document: ...

    def get(self, doc_id: int) -> Document | None: ...

    def list_recent(self, limit: int, offset: int = 0) -> list[Document]: ...

    def count(self) -> int: ...

    def record_processing(self, doc_id: int, result: ProcessingResult) -> bool: ...

    def unprocessed(self, min_age_seconds: float, limit: int) -> list[Document]:
        """Rows not processed yet and older than ``min_age_seconds`` (by the database's clock)."""
        ...

    def all_rows(self) -> list[Document]: ...

    def delete_ids(self, ids: Iterable[int]) -> int: ...

    def ping(self) -> None: ...


def _row_to_document(row: tuple[Any, ...]) -> Document:
    return Document(*row)


class PostgresRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, new: NewDocument) -> Document:
        row = self.db.fetchone(
            f"INSERT INTO documents (name, stored_name, content_type, size_bytes) "
            f"VALUES (%s, %s, %s, %s) RETURNING {_COLUMNS}",
            (new.name, new.stored_name, new.content_type, new.size_bytes),
        )
        assert row is not None
        return _row_to_document(row)

    def get(self, doc_id: int) -> Document | None:
        row = self.db.fetchone(f"SELECT {_COLUMNS} FROM documents WHERE id = %s", (doc_id,))
        return _row_to_document(row) if row else None

    def list_recent(self, limit: int, offset: int = 0) -> list[Document]:
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM documents ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return [_row_to_document(r) for r in rows]

    def count(self) -> int:
        row = self.db.fetchone("SELECT count(*) FROM documents")
        return int(row[0]) if row else 0

    def record_processing(self, doc_id: int, result: ProcessingResult) -> bool:
        row = self.db.fetchone(
            "UPDATE documents SET sha256 = %s, processed_size = %s, mime_type = %s, "
            "processing_error = %s, processed_at = now() WHERE id = %s RETURNING id",
            (result.sha256, result.size_bytes, result.mime_type, result.error, doc_id),
        )
        return row is not None

    def unprocessed(self, min_age_seconds: float, limit: int) -> list[Document]:
        rows = self.db.fetchall(
            f"SELECT {_COLUMNS} FROM documents WHERE processed_at IS NULL "
            f"AND created_at < now() - make_interval(secs => %s) ORDER BY created_at LIMIT %s",
            (min_age_seconds, limit),
        )
        return [_row_to_document(r) for r in rows]

    def all_rows(self) -> list[Document]:
        return [_row_to_document(r) for r in self.db.fetchall(f"SELECT {_COLUMNS} FROM documents ORDER BY id")]

    def delete_ids(self, ids: Iterable[int]) -> int:
        id_list = list(ids)
        if not id_list:
            return 0
        rows = self.db.fetchall("DELETE FROM documents WHERE id = ANY(%s) RETURNING id", (id_list,))
        return len(rows)

    def ping(self) -> None:
        self.db.fetchone("SELECT 1")
