"""Against real PostgreSQL and Redis; skipped unless both URLs are given.

    DOCSHARE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch \
    DOCSHARE_TEST_REDIS_URL=redis://127.0.0.1:6379/15 python -m pytest tests

The database and the Redis db must be throw-away: the tests drop the app's tables and flush Redis.
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

DB_URL = os.environ.get("DOCSHARE_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("DOCSHARE_TEST_REDIS_URL", "")

pytestmark = pytest.mark.skipif(
    not (DB_URL and REDIS_URL), reason="set DOCSHARE_TEST_DATABASE_URL and DOCSHARE_TEST_REDIS_URL"
)


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    import psycopg
    import redis

    with psycopg.connect(DB_URL, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS documents, schema_migrations")
    redis.Redis.from_url(REDIS_URL).flushdb()
    docs = tmp_path / "docs"
    docs.mkdir()
    values = {
        "DOCSHARE_DATABASE_URL": DB_URL,
        "DOCSHARE_REDIS_URL": REDIS_URL,
        "DOCSHARE_DOCUMENTS_DIR": str(docs),
        "DOCSHARE_STATIC_DIR": str(tmp_path / "static"),
        "DOCSHARE_RELEASE_ID": "it-1",
        "DOCSHARE_SECRET_KEY": "k" * 32,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    from docshare.tasks import worker_context

    worker_context.cache_clear()
    yield values
    worker_context.cache_clear()


def run_manage(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    from docshare.manage import main

    rc = main(args)
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_migrate_is_idempotent_and_serialised(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from docshare.migrations import MIGRATIONS, migrate

    results: list[dict[str, object]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate(DB_URL, "it-1"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["applied_count"] for r in results) == [0, 0, len(MIGRATIONS)]  # type: ignore[type-var]
    rc, summary = run_manage(["migrate"], capsys)
    assert rc == 0 and summary["applied_count"] == 0
    assert summary["current_version"] == MIGRATIONS[-1].version


def test_round_trip_with_real_services(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from docshare.config import load_config
    from docshare.migrations import migrate
    from docshare.services import build_services
    from docshare.tasks import process_document_job
    from docshare.web import create_app

    migrate(DB_URL, "it-1")
    config = load_config()
    services = build_services(config)
    client = create_app(config, services).test_client()

    resp = client.post(
        "/api/documents", data={"file": (io.BytesIO(b"%PDF-1.4 x"), "a.pdf")}, content_type="multipart/form-data"
    )
    assert resp.status_code == 201, resp.get_data()
    doc_id = resp.get_json()["id"]
    assert resp.get_json()["queued"] is True
    assert services.queue.length() == 1

    assert client.get("/api/documents").headers["X-Cache"] == "MISS"
    assert client.get("/api/documents").headers["X-Cache"] == "HIT"

    assert [d.id for d in services.repo.unprocessed(0, 10)] == [doc_id]
    assert services.repo.unprocessed(3600, 10) == []
    process_document_job(doc_id)
    meta = client.get(f"/api/documents/{doc_id}").get_json()
    assert meta["mime_type"] == "application/pdf" and len(meta["sha256"]) == 64
    listing = client.get("/api/documents")
    assert listing.headers["X-Cache"] == "MISS"  # the job invalidated the cache
    assert listing.get_json()["documents"][0]["processed"] is True

    download = client.get(f"/documents/{doc_id}/download")
    assert download.headers["X-Accel-Redirect"].startswith("/_protected/documents/")

    health = client.get("/health")
    assert health.status_code == 200, health.get_json()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "docshare_documents_stored 1.0" in metrics
    assert 'docshare_build_info{release="it-1"' in metrics

    # orphans: delete the file behind the row, add a stray old file
    stored = Path(env["DOCSHARE_DOCUMENTS_DIR"])
    for f in stored.iterdir():
        f.unlink()
    stray = stored / ("e" * 32 + ".txt")
    stray.write_text("stray")
    os.utime(stray, (0, 0))
    rc, dry = run_manage(["cleanup-orphans", "--dry-run"], capsys)
    assert rc == 0 and dry["orphan_rows"] == 1 and dry["orphan_files"] == 1 and dry["removed_rows"] == 0
    rc, real = run_manage(["cleanup-orphans"], capsys)
    assert rc == 0 and real["removed_rows"] == 1 and real["removed_files"] == 1
    assert not stray.exists()

    rc, upkeep = run_manage(["db-upkeep"], capsys)
    assert rc == 0 and "documents" in upkeep["tables"]  # type: ignore[operator]
    services.close()
