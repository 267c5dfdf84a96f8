from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from docshare.models import Document
from docshare.orphans import find_orphans, remove_orphan_files
from docshare.storage import FileEntry, FileStore

NOW = 1_000_000.0
OLD = NOW - 7200
NEW = NOW - 60
A = "a" * 32 + ".pdf"
B = "b" * 32 + ".txt"
C = "c" * 32
D = "d" * 32 + ".png"


def row(doc_id: int, stored_name: str) -> Document:
    return Document(doc_id, "n", stored_name, "text/plain", 1, datetime.now(UTC))


def test_detects_files_without_rows_and_rows_without_files() -> None:
    files = [FileEntry(A, 1, OLD), FileEntry(B, 1, OLD), FileEntry(C, 1, OLD)]
    rows = [row(1, A), row(2, D)]
    report = find_orphans(files, rows, now=NOW, min_age_seconds=3600)
    assert report.orphan_files == sorted([B, C])
    assert report.orphan_rows == [2]
    summary = report.summary(dry_run=True)
    assert summary["orphan_files"] == 2
    assert summary["orphan_rows"] == 1
    assert summary["files_scanned"] == 3
    assert summary["rows_scanned"] == 2
    assert summary["dry_run"] is True
    assert summary["removed_files"] == summary["removed_rows"] == 0


def test_young_files_are_left_alone() -> None:
    report = find_orphans([FileEntry(B, 1, NEW)], [], now=NOW, min_age_seconds=3600)
    assert report.orphan_files == []
    assert report.too_young == 1


def test_foreign_files_are_ignored() -> None:
    files = [
        FileEntry("lost+found", 0, OLD),
        FileEntry(".nfs000000001", 0, OLD),
        FileEntry(".health-web1-12", 0, OLD),
        FileEntry("README.txt", 0, OLD),
    ]
    report = find_orphans(files, [], now=NOW)
    assert report.orphan_files == []
    assert report.ignored_files == 4


def test_stale_partial_uploads() -> None:
    files = [FileEntry(".upload-" + "e" * 32 + ".part", 5, OLD), FileEntry(".upload-" + "f" * 32 + ".part", 5, NEW)]
    report = find_orphans(files, [], now=NOW, min_age_seconds=3600)
    assert report.stale_uploads == [".upload-" + "e" * 32 + ".part"]
    assert report.too_young == 1


def test_nothing_to_do() -> None:
    report = find_orphans([FileEntry(A, 1, OLD)], [row(1, A)], now=NOW)
    assert report.summary(dry_run=False) | {} == {
        "dry_run": False,
        "files_scanned": 1,
        "rows_scanned": 1,
        "orphan_files": 0,
        "orphan_rows": 0,
        "stale_uploads": 0,
        "ignored_files": 0,
        "skipped_too_young": 0,
        "removed_files": 0,
        "removed_rows": 0,
    }


def test_mass_row_deletion_is_refused() -> None:
    rows = [row(i, f"{i:032x}") for i in range(1, 21)]
    report = find_orphans([], rows, now=NOW)  # e.g. the share is not mounted
    assert len(report.orphan_rows) == 20
    assert report.row_deletion_refused()


def test_a_few_orphan_rows_are_fine() -> None:
    rows = [row(i, f"{i:032x}") for i in range(1, 4)]
    report = find_orphans([], rows, now=NOW)
    assert not report.row_deletion_refused()


def test_orphan_rows_name_their_missing_file() -> None:
    report = find_orphans([FileEntry(A, 1, OLD)], [row(1, A), row(2, D)], now=NOW)
    assert report.orphan_rows == [2] and report.missing_files == {2: D}


def test_orphan_files_go_to_quarantine_or_away(tmp_path: Path) -> None:
    stale = ".upload-" + "f" * 32 + ".part"
    for name in (B, C, stale):
        (tmp_path / name).write_text(name)
    files = FileStore(tmp_path).list_files()
    report = find_orphans(files, [], now=max(f.mtime for f in files) + 7200)
    assert report.orphan_files == [B, C] and report.stale_uploads == [stale]
    folder = tmp_path / ".quarantine" / "2026-12-01"
    assert remove_orphan_files(report, FileStore(tmp_path), str(folder)) == (0, 3)
    assert sorted(p.name for p in folder.iterdir()) == sorted([B, C, stale])
    for name in (B, C, stale):
        (tmp_path / name).write_text(name)
    assert remove_orphan_files(report, FileStore(tmp_path)) == (3, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".quarantine"]
