"""Production wiring, exercised against closed loopback ports (no servers needed)."""

from __future__ import annotations

import io
import time
from pathlib import Path

from docshare.config import Config
from docshare.health import aggregate, run_checks
from docshare.services import build_services
from docshare.web import create_app


def dead_config(tmp_path: Path) -> Config:
    return Config(
        database_url="postgresql://u:p@127.0.0.1:1/d",
        redis_url="redis://127.0.0.1:1/0",
        documents_dir=str(tmp_path),
        static_dir=str(tmp_path / "static"),
        release_id="r-dead",
        min_free_bytes=0,
    )


def test_health_names_every_check_and_fails_fast(tmp_path: Path) -> None:
    services = build_services(dead_config(tmp_path))
    start = time.monotonic()
    status, body = aggregate(run_checks(services.health_checks), "r-dead")
    assert time.monotonic() - start < 3.5
    assert status == 503
    assert set(body["checks"]) == {"database", "redis", "documents", "disk"}
    assert body["checks"]["database"]["status"] == "fail"
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["documents"]["status"] == "ok"
    assert body["checks"]["disk"]["status"] == "ok"


def test_routes_degrade_without_servers(tmp_path: Path) -> None:
    app = create_app(dead_config(tmp_path), build_services(dead_config(tmp_path)))
    client = app.test_client()
    assert client.get("/health/live").status_code == 200
    assert client.get("/api/documents").status_code == 503
    resp = client.post("/api/documents", data={"file": (io.BytesIO(b"x"), "a.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 503
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("static")] == []  # file removed again
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'docshare_build_info{release="r-dead"} 1.0' in metrics.get_data(as_text=True)
