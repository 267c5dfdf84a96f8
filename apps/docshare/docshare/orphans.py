"""Orphan detection: files with no row, rows with no file, and abandoned partial uploads.

Detection is a pure function of a file listing and the rows, so it is unit-tested without a
database. Only files whose names this app generates are ever candidates; anything else in the
directory (``lost+found``, NFS ``.nfs*`` files, health probes) is counted as ignored. Files
younger than ``min_age_seconds`` are left alone: an upload writes its file just before its row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .models import Document
from .storage import UPLOAD_PREFIX, UPLOAD_SUFFIX, FileEntry, FileStore, is_stored_name

DEFAULT_MIN_AGE_SECONDS = 3600
# Refuse to delete more rows than this share of all rows (an unmounted share looks empty).
MAX_ORPHAN_ROW_SHARE = 0.5
MAX_ORPHAN_ROWS_ALWAYS_OK = 10


@dataclass
class OrphanReport:
    files_scanned: int = 0
    rows_scanned: int = 0
    orphan_files: list[str] = field(default_factory=list)
    orphan_rows: list[int] = field(default_factory=list)
    # The file each orphan row names (missing from the share), by row id.
    missing_files: dict[int, str] = field(default_factory=dict)
    stale_uploads: list[str] = field(default_factory=list)
    ignored_files: int = 0
    too_young: int = 0

    def row_deletion_refused(self) -> bool:
        """True when so many rows lack their file that the volume is more likely missing than the files."""
        n = len(self.orphan_rows)
        return n > MAX_ORPHAN_ROWS_ALWAYS_OK and n > self.rows_scanned * MAX_ORPHAN_ROW_SHARE

    def summary(self, dry_run: bool, removed_files: int = 0, removed_rows: int = 0) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "files_scanned": self.files_scanned,
            "rows_scanned": self.rows_scanned,
            "orphan_files": len(self.orphan_files),
            "orphan_rows": len(self.orphan_rows),
            "stale_uploads": len(self.stale_uploads),
            "ignored_files": self.ignored_files,
            "skipped_too_young": self.too_young,
            "removed_files": removed_files,
            "removed_rows": removed_rows,
        }


def find_orphans(
    files: Iterable[FileEntry],
    rows: Iterable[Document],
    now: float,
    min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
) -> OrphanReport:
    report = OrphanReport()
    row_list = list(rows)
    report.rows_scanned = len(row_list)
    known = {r.stored_name for r in row_list}
    present: set[str] = set()
    for f in files:
        report.files_scanned += 1
        old_enough = now - f.mtime >= min_age_seconds
        if is_stored_name(f.name):
            present.add(f.name)
            if f.name in known:
                continue
            if old_enough:
                report.orphan_files.append(f.name)
            else:
                report.too_young += 1
        elif f.name.startswith(UPLOAD_PREFIX) and f.name.endswith(UPLOAD_SUFFIX):
            if old_enough:
                report.stale_uploads.append(f.name)
            else:
                report.too_young += 1
        else:
            report.ignored_files += 1
    report.missing_files = {r.id: r.stored_name for r in row_list if r.stored_name not in present}
    report.orphan_rows = sorted(report.missing_files)
    report.orphan_files.sort()
    report.stale_uploads.sort()
    return report


def remove_orphan_files(report: OrphanReport, store: FileStore, quarantine: str | None = None) -> tuple[int, int]:
    """Delete the orphan files and stale uploads, or move them into ``quarantine``; (removed, quarantined)."""
    removed = quarantined = 0
    for name in report.orphan_files + report.stale_uploads:
        if quarantine:
            quarantined += store.quarantine(name, quarantine)
        elif name in report.stale_uploads:
            removed += store.delete_raw(name)
        else:
            removed += store.delete(name)
    return removed, quarantined
