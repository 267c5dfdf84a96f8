from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from docshare_fakes import MemoryBlobStore, MemoryRepository

from docshare.models import NewDocument
from docshare.processing import analyse_stream, process_document, process_pending, sniff_mime


@pytest.mark.parametrize(
    ("head", "name", "mime"),
    [
        (b"%PDF-1.7\n...", "x.pdf", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "x.bin", "image/png"),
        (b"\xff\xd8\xff\xe0", "x.jpg", "image/jpeg"),
        (b"PK\x03\x04rest", "x.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"PK\x03\x04rest", "x.zip", "application/zip"),
        (b"hello world\n", "notes.txt", "text/plain"),
        (b"a,b\n1,2\n", "t.csv", "text/csv"),
        ("h\u00e9llo".encode(), "", "text/plain"),
        (b"\x00\x01\x02binary", "x.dat", "application/octet-stream"),
        (b"", "empty.txt", "application/x-empty"),
    ],
)
def test_sniff_mime(head: bytes, name: str, mime: str) -> None:
    assert sniff_mime(head, name) == mime


def test_sniff_tolerates_utf8_cut_at_sample_end() -> None:
    head = ("x" * 4095 + "\u00e9").encode()[:4096]
    assert sniff_mime(head) == "text/plain"


def test_analyse_stream_large() -> None:
    data = b"0123456789" * 300_000
    result = analyse_stream(io.BytesIO(data), "big.txt")
    assert result.size_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.mime_type == "text/plain"


def _upload(repo: MemoryRepository, store: MemoryBlobStore, data: bytes, name: str = "a.pdf") -> int:
    saved = store.save(io.BytesIO(data), name)
    return repo.add(NewDocument(name, saved.stored_name, "application/pdf", saved.size)).id


def test_process_document_records_results(tmp_path: Path) -> None:
    repo, store = MemoryRepository(), MemoryBlobStore(tmp_path)
    doc_id = _upload(repo, store, b"%PDF-1.4 test")
    result = process_document(doc_id, repo, store)
    assert result is not None
    doc = repo.get(doc_id)
    assert doc is not None and doc.processed
    assert doc.sha256 == hashlib.sha256(b"%PDF-1.4 test").hexdigest()
    assert doc.mime_type == "application/pdf"
    assert doc.processed_size == 13
    assert doc.processing_error is None


def test_process_missing_row_and_missing_file(tmp_path: Path) -> None:
    repo, store = MemoryRepository(), MemoryBlobStore(tmp_path)
    assert process_document(42, repo, store) is None
    doc_id = repo.add(NewDocument("gone.txt", "0" * 32 + ".txt", "text/plain", 3)).id
    result = process_document(doc_id, repo, store)
    assert result is not None and result.error == "file missing"
    assert repo.get(doc_id).processed  # type: ignore[union-attr]


def test_process_pending_picks_up_old_unprocessed_rows(tmp_path: Path) -> None:
    repo, store = MemoryRepository(), MemoryBlobStore(tmp_path)
    first = _upload(repo, store, b"one")
    second = _upload(repo, store, b"two")
    process_document(second, repo, store)
    assert process_pending(repo, store, grace_seconds=30) == 0  # too young
    for doc_id in (first, second):  # five minutes pass
        repo.docs[doc_id] = replace(repo.docs[doc_id], created_at=repo.docs[doc_id].created_at - timedelta(minutes=5))
    assert process_pending(repo, store, grace_seconds=30) == 1
    assert repo.get(first).processed  # type: ignore[union-attr]
    assert process_pending(repo, store, grace_seconds=30) == 0
