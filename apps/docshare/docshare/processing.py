"""Processing of an uploaded document: checksum, size and content type, recorded in its row."""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from pathlib import Path
from typing import IO

from .models import ProcessingResult
from .repository import DocumentRepository
from .storage import BlobStore

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
# (offset, magic bytes, mime type): enough to tell the common document types apart.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF-", "application/pdf"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"{\\rtf", "application/rtf"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
)
_ZIP_BASED = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "epub": "application/epub+zip",
}


def sniff_mime(head: bytes, filename: str = "") -> str:
    """Content type from the first bytes, refined by the extension for zip-based formats."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            if mime == "application/zip" and ext in _ZIP_BASED:
                return _ZIP_BASED[ext]
            return mime
    if head[4:12] in (b"ftypisom", b"ftypmp42"):
        return "video/mp4"
    if not head:
        return "application/x-empty"
    if b"\x00" in head:
        return "application/octet-stream"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return "application/octet-stream"
    guessed, _ = mimetypes.guess_type(f"x.{ext}") if ext else (None, None)
    if guessed and (guessed.startswith("text/") or guessed in ("application/json", "application/xml")):
        return guessed
    return "text/plain"


def analyse_stream(stream: IO[bytes], filename: str = "") -> ProcessingResult:
    digest = hashlib.sha256()
    size = 0
    head = b""
    while chunk := stream.read(_CHUNK):
        if len(head) < 4096:
            head += chunk[: 4096 - len(head)]
        digest.update(chunk)
        size += len(chunk)
    return ProcessingResult(sha256=digest.hexdigest(), size_bytes=size, mime_type=sniff_mime(head, filename))


def analyse_file(path: Path) -> ProcessingResult:
    with open(path, "rb") as stream:
        return analyse_stream(stream, path.name)


def process_document(doc_id: int, repo: DocumentRepository, store: BlobStore) -> ProcessingResult | None:
    """Analyse the stored file of ``doc_id`` and record the result (idempotent)."""
    doc = repo.get(doc_id)
    if doc is None:
        log.warning("document %s no longer exists; nothing to process", doc_id)
        return None
    try:
        result = analyse_file(store.path(doc.stored_name))
    except FileNotFoundError:
        result = ProcessingResult(sha256="", size_bytes=0, mime_type="", error="file missing")
    repo.record_processing(doc_id, result)
    log.info("processed document %s: %s", doc_id, result)
    return result


def process_pending(repo: DocumentRepository, store: BlobStore, grace_seconds: float = 30, limit: int = 100) -> int:
    """Process rows left unprocessed (e.g. enqueueing failed while Redis was down)."""
    done = 0
    for doc in repo.unprocessed(grace_seconds, limit):
        if process_document(doc.id, repo, store) is not None:
            done += 1
    return done
