"""The HTTP routes, with the storage layer, cache and queue replaced by in-memory fakes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from docshare_fakes import FakeCache, FakeQueue, MemoryBlobStore, MemoryRepository
from flask.testing import FlaskClient

from docshare.config import Config
from docshare.health import CheckResult
from docshare.processing import process_document
from docshare.services import Services
from docshare.static_assets import SOURCE_DIR, build_static
from docshare.web import content_disposition, create_app


@dataclass
class Env:
    client: FlaskClient
    repo: MemoryRepository
    store: MemoryBlobStore
    cache: FakeCache
    queue: FakeQueue
    manifest: dict[str, str]
    checks: dict[str, bool]


def make_env(tmp_path: Path, accel_prefix: str = "/_protected/documents/", max_upload: int = 1024 * 1024) -> Env:
    static = tmp_path / "static"
    manifest = build_static(SOURCE_DIR, static)
    docs = tmp_path / "docs"
    docs.mkdir()
    config = Config(
        database_url="postgresql://u:p@db:5432/d",
        redis_url="redis://redis:6379/0",
        documents_dir=str(docs),
        static_dir=str(static),
        release_id="rel-42",
        secret_key="s" * 32,
        accel_prefix=accel_prefix,
        max_upload_bytes=max_upload,
    )
    repo, store, cache, queue = MemoryRepository(), MemoryBlobStore(docs), FakeCache(), FakeQueue()
    checks = {"database": True, "redis": True, "documents": True, "disk": True}

    def check(name: str):  # type: ignore[no-untyped-def]
        def run() -> CheckResult:
            if not checks[name]:
                raise ConnectionError(f"{name} down")
            return CheckResult(ok=True)

        return run

    services = Services(repo=repo, store=store, cache=cache, queue=queue, health_checks={n: check(n) for n in checks})
    app = create_app(config, services)
    app.testing = True
    return Env(app.test_client(), repo, store, cache, queue, manifest, checks)


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    yield make_env(tmp_path)


def upload(
    client: FlaskClient, data: bytes = b"%PDF-1.4 hello", name: str = "report.pdf", mimetype: str = "application/pdf"
):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/documents",
        data={"file": (io.BytesIO(data), name, mimetype)},
        content_type="multipart/form-data",
    )


def test_upload_returns_201_and_enqueues(env: Env) -> None:
    resp = upload(env.client)
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["id"] == 1
    assert body["name"] == "report.pdf"
    assert body["size"] == 14
    assert body["queued"] is True
    assert body["processed"] is False
    assert resp.headers["Location"] == "/api/documents/1"
    assert env.queue.jobs == [1]
    stored = env.repo.get(1)
    assert stored is not None and stored.stored_name in env.store.files
    assert stored.stored_name != "report.pdf"


def test_upload_with_hostile_name_is_stored_safely(env: Env) -> None:
    resp = upload(env.client, b"x", name="../../../etc/passwd")
    assert resp.status_code == 201
    assert resp.get_json()["name"] == "passwd"
    (stored_name,) = env.store.files
    assert "/" not in stored_name and ".." not in stored_name


def test_upload_requires_file_field(env: Env) -> None:
    resp = env.client.post("/api/documents", data={"other": "x"}, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "file" in resp.get_json()["error"]


def test_upload_too_large_is_413(tmp_path: Path) -> None:
    env = make_env(tmp_path, max_upload=1000)
    resp = upload(env.client, b"x" * 5000)
    assert resp.status_code == 413
    assert env.store.files == {}


def test_upload_when_disk_is_low_is_507(env: Env) -> None:
    env.store.free, env.store.min_free = 10, 100
    assert upload(env.client).status_code == 507
    assert env.repo.docs == {}


def test_upload_survives_redis_down(env: Env) -> None:
    env.queue.available = False
    env.cache.available = False
    resp = upload(env.client)
    assert resp.status_code == 201
    assert resp.get_json()["queued"] is False
    assert env.repo.count() == 1  # kept: the worker's sweep processes it later


def test_upload_database_failure_removes_file(env: Env) -> None:
    env.repo.fail_with = psycopg.OperationalError("db down")
    resp = upload(env.client)
    assert resp.status_code == 503
    assert env.store.files == {}


def test_listing_is_cached_and_invalidated_on_upload(env: Env) -> None:
    upload(env.client, name="one.txt")
    first = env.client.get("/api/documents")
    assert first.status_code == 200
    assert first.headers["X-Cache"] == "MISS"
    assert [d["name"] for d in first.get_json()["documents"]] == ["one.txt"]
    assert env.client.get("/api/documents").headers["X-Cache"] == "HIT"
    upload(env.client, name="two.txt")
    after = env.client.get("/api/documents")
    assert after.headers["X-Cache"] == "MISS"
    assert {d["name"] for d in after.get_json()["documents"]} == {"one.txt", "two.txt"}


def test_listing_works_without_redis(env: Env) -> None:
    upload(env.client)
    env.cache.available = False
    resp = env.client.get("/api/documents")
    assert resp.status_code == 200
    assert resp.headers["X-Cache"] == "MISS"
    assert len(resp.get_json()["documents"]) == 1


def test_listing_pagination_bypasses_cache(env: Env) -> None:
    for i in range(3):
        upload(env.client, name=f"{i}.txt")
    resp = env.client.get("/api/documents?limit=2&offset=1")
    assert resp.headers["X-Cache"] == "BYPASS"
    assert len(resp.get_json()["documents"]) == 2


def test_metadata_includes_processing_results(env: Env) -> None:
    upload(env.client, b"%PDF-1.4 hello")
    process_document(1, env.repo, env.store)
    body = env.client.get("/api/documents/1").get_json()
    assert body["processed"] is True
    assert body["sha256"] == body["processing"]["sha256"]
    assert len(body["sha256"]) == 64
    assert body["mime_type"] == "application/pdf"
    assert body["processing"]["size"] == 14
    assert body["processed_at"]


def test_unknown_document_is_404_json(env: Env) -> None:
    resp = env.client.get("/api/documents/999")
    assert resp.status_code == 404
    assert resp.get_json()["error"]
    assert env.client.get("/documents/999/download").status_code == 404


def test_download_uses_x_accel_redirect(env: Env) -> None:
    upload(env.client, b"hello", name="r\u00e9sum\u00e9.pdf")
    stored = env.repo.get(1).stored_name  # type: ignore[union-attr]
    resp = env.client.get("/documents/1/download")
    assert resp.status_code == 200
    assert resp.headers["X-Accel-Redirect"] == f"/_protected/documents/{stored}"
    assert resp.data == b""
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf" in disposition
    assert resp.headers["Content-Type"].startswith("application/pdf")


def test_download_streams_when_prefix_empty(tmp_path: Path) -> None:
    env = make_env(tmp_path, accel_prefix="")
    upload(env.client, b"file body", name="notes.txt", mimetype="text/plain")
    resp = env.client.get("/documents/1/download")
    assert resp.status_code == 200
    assert "X-Accel-Redirect" not in resp.headers
    assert resp.data == b"file body"
    assert 'filename="notes.txt"' in resp.headers["Content-Disposition"]


def test_download_with_missing_file_is_404(env: Env) -> None:
    upload(env.client)
    env.store.files.clear()
    assert env.client.get("/documents/1/download").status_code == 404


def test_content_disposition_escapes_quotes() -> None:
    header = content_disposition('a"b\\c.txt')
    assert 'filename="a_b_c.txt"' in header
    assert "filename*=UTF-8''a%22b%5Cc.txt" in header


def test_index_uses_hashed_assets(env: Env) -> None:
    upload(env.client, name="listed.txt")
    resp = env.client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert f"/static/{env.manifest['app.css']}" in html
    assert f"/static/{env.manifest['app.js']}" in html
    assert "listed.txt" in html
    asset = env.client.get(f"/static/{env.manifest['app.css']}")
    assert asset.status_code == 200
    assert "immutable" in asset.headers["Cache-Control"]
    asset.close()


def test_form_upload_redirects(env: Env) -> None:
    resp = env.client.post("/upload", data={"file": (io.BytesIO(b"x"), "f.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 303
    assert env.repo.count() == 1


def test_health_ok(env: Env) -> None:
    resp = env.client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["release"] == "rel-42"
    assert set(body["checks"]) == {"database", "redis", "documents", "disk"}


def test_health_names_the_failing_check(env: Env) -> None:
    env.checks["redis"] = False
    resp = env.client.get("/health")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    live = env.client.get("/health/live")
    assert live.status_code == 200
    assert live.get_json() == {"status": "ok", "release": "rel-42"}


def test_metrics(env: Env) -> None:
    upload(env.client)
    env.client.get("/api/documents")
    env.client.get("/api/documents/1")
    text = env.client.get("/metrics").get_data(as_text=True)
    assert 'docshare_build_info{release="rel-42"} 1.0' in text
    assert 'docshare_http_requests_total{method="GET",route="/api/documents",status="200"}' in text
    assert 'route="/api/documents/<int:doc_id>"' in text
    assert "docshare_http_request_duration_seconds_bucket" in text
    assert 'docshare_queue_length{queue="docshare"} 1.0' in text
    assert "docshare_documents_stored 1.0" in text


def test_metrics_survive_dead_dependencies(env: Env) -> None:
    env.queue.available = False
    env.repo.fail_with = psycopg.OperationalError("down")
    resp = env.client.get("/metrics")
    assert resp.status_code == 200
    assert "docshare_build_info" in resp.get_data(as_text=True)
    assert "docshare_queue_length{" not in resp.get_data(as_text=True)


def test_unmatched_routes_share_one_label(env: Env) -> None:
    env.client.get("/no/such/page/1")
    env.client.get("/no/such/page/2")
    text = env.client.get("/metrics").get_data(as_text=True)
    assert 'route="<unmatched>",status="404"' in text
    assert "/no/such/page" not in text


def test_responses_carry_release_header(env: Env) -> None:
    assert env.client.get("/health/live").headers["X-Docshare-Release"] == "rel-42"


def test_listing_json_is_valid(env: Env) -> None:
    upload(env.client)
    payload = env.client.get("/api/documents").get_data()
    assert json.loads(payload)["documents"][0]["download_url"] == "/documents/1/download"


def test_index_when_database_is_down(env: Env) -> None:
    env.repo.fail_with = psycopg.OperationalError("down")
    resp = env.client.get("/")
    assert resp.status_code == 503
    assert "unavailable" in resp.get_data(as_text=True)
    api = env.client.get("/api/documents")
    assert api.status_code == 503
    assert api.get_json() == {"error": "database unavailable"}
