"""Operational commands: ``python -m docshare.manage <command>``.

migrate            apply pending schema migrations (advisory lock; safe to run twice)
cleanup-orphans    remove files with no row, rows with no file, stale partial uploads (--quarantine DIR moves the files)
db-upkeep          VACUUM (ANALYZE) the application tables
build-static       copy assets under content-hashed names and write manifest.json
check              validate the configuration (exit 0 when valid)

Every command prints a JSON summary on stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ConfigError, load_config, parse_config
from .logs import setup_logging


def _print(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, sort_keys=True))


def cmd_migrate(args: argparse.Namespace) -> int:
    from .migrations import migrate

    config = load_config()
    _print(migrate(config.database_url, config.release_id, dry_run=args.dry_run))
    return 0


def cmd_cleanup_orphans(args: argparse.Namespace) -> int:
    from .db import LOCK_CLEANUP, Database, LockNotAcquired, advisory_lock
    from .orphans import find_orphans, remove_orphan_files
    from .repository import PostgresRepository
    from .storage import FileStore

    config = load_config()
    db = Database(config.database_url, statement_timeout_ms=None, application_name="docshare-cleanup")
    repo = PostgresRepository(db)
    store = FileStore(config.documents_dir)
    try:
        with advisory_lock(db.connection(), LOCK_CLEANUP, wait=False):
            # Rows first: a file written after this point is younger than min-age anyway.
            rows = repo.all_rows()
            report = find_orphans(store.list_files(), rows, now=time.time(), min_age_seconds=args.min_age)
            removed_files = removed_rows = quarantined_files = 0
            refused = report.row_deletion_refused() and not args.force
            if not args.dry_run:
                removed_files, quarantined_files = remove_orphan_files(report, store, args.quarantine)
                if not refused:
                    removed_rows = repo.delete_ids(report.orphan_rows)
                if removed_rows:
                    _invalidate_listing(config.redis_url)
    except LockNotAcquired:
        _print({"skipped": "another cleanup-orphans is running", "dry_run": args.dry_run})
        return 0
    finally:
        db.close()
    summary = report.summary(args.dry_run, removed_files, removed_rows)
    if args.quarantine:
        summary.update(quarantine=args.quarantine, quarantined_files=quarantined_files)
    if refused:
        summary["refused"] = (
            f"{len(report.orphan_rows)} of {report.rows_scanned} rows have no file: is {config.documents_dir} "
            "mounted? Rows not deleted; use --force if this is real"
        )
    if args.verbose:
        summary["details"] = {
            "orphan_files": report.orphan_files,
            "orphan_rows": report.orphan_rows,
            "stale_uploads": report.stale_uploads,
            "missing_files": {str(k): v for k, v in sorted(report.missing_files.items())},
            "documents_dir": str(config.documents_dir),
        }
    _print(summary)
    return 3 if refused and not args.dry_run else 0


def _invalidate_listing(redis_url: str) -> None:
    from .cache import RedisListingCache
    from .redis_conn import web_client

    RedisListingCache(web_client(redis_url)).invalidate()


def cmd_db_upkeep(args: argparse.Namespace) -> int:
    from .db import LockNotAcquired
    from .upkeep import db_upkeep

    config = load_config()
    try:
        _print(db_upkeep(config.database_url, analyze_only=args.analyze_only))
    except LockNotAcquired:
        _print({"skipped": "another db-upkeep is running"})
    return 0


def cmd_build_static(args: argparse.Namespace) -> int:
    from .static_assets import SOURCE_DIR, build_static

    src = Path(args.src) if args.src else SOURCE_DIR
    if not src.is_dir():
        print(f"source directory {src} does not exist", file=sys.stderr)
        return 2
    manifest = build_static(src, Path(args.out))
    _print({"out": str(args.out), "assets": len(manifest), "manifest": manifest})
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    config, errors = parse_config()
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    _print({"valid": not errors, "errors": errors, "warnings": list(config.warnings), "release": config.release_id})
    return 0 if not errors else 1


def _absolute(value: str) -> str:
    if not value.startswith("/"):
        raise argparse.ArgumentTypeError(f"{value!r} is not an absolute path")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m docshare.manage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply pending schema migrations")
    p.add_argument("--dry-run", action="store_true", help="list pending migrations, apply none")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("cleanup-orphans", help="remove orphaned files and rows")
    p.add_argument("--dry-run", action="store_true", help="only report counts")
    p.add_argument("--min-age", type=float, default=3600, help="ignore files younger than this many seconds")
    p.add_argument("--verbose", action="store_true", help="list the orphans in the summary")
    p.add_argument("--force", action="store_true", help="delete orphan rows even when most rows look orphaned")
    p.add_argument("--quarantine", metavar="DIR", type=_absolute,
                   help="move orphan files and stale uploads into DIR (e.g. <documents>/.quarantine/<date>) instead of deleting them")
    p.set_defaults(func=cmd_cleanup_orphans)

    p = sub.add_parser("db-upkeep", help="VACUUM (ANALYZE) the application tables")
    p.add_argument("--analyze-only", action="store_true", help="ANALYZE without VACUUM")
    p.set_defaults(func=cmd_db_upkeep)

    p = sub.add_parser("build-static", help="hash static assets and write manifest.json")
    p.add_argument("--out", required=True, help="output directory (e.g. /app/static)")
    p.add_argument("--src", help="source assets (default: the static/ folder beside the package)")
    p.set_defaults(func=cmd_build_static)

    p = sub.add_parser("check", help="validate the configuration")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
