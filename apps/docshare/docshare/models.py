"""Plain data types shared by the web app, the worker and the maintenance commands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class NewDocument:
    name: str
    stored_name: str
    content_type: str
    size_bytes: int


@dataclass(frozen=True)
class ProcessingResult:
    sha256: str
    size_bytes: int
    mime_type: str
    error: str | None = None


@dataclass(frozen=True)
class Document:
    id: int
    name: str
    stored_name: str
    content_type: str
    size_bytes: int
    created_at: datetime
    sha256: str | None = None
    mime_type: str | None = None
    processed_size: int | None = None
    processed_at: datetime | None = None
    processing_error: str | None = None

    @property
    def processed(self) -> bool:
        return self.processed_at is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "size": self.size_bytes,
            "content_type": self.content_type,
            "created_at": self.created_at.isoformat(),
            "download_url": f"/documents/{self.id}/download",
            "processed": self.processed,
            "processing": {
                "sha256": self.sha256,
                "size": self.processed_size,
                "mime_type": self.mime_type,
                "processed_at": self.processed_at.isoformat() if self.processed_at else None,
                "error": self.processing_error,
            },
            # Flat copies of the processing results for simple clients.
            "sha256": self.sha256,
            "mime_type": self.mime_type,
            "processed_at": self.processed_at.isoformat() if self.processed_at else None,
        }
