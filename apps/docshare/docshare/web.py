"""The Flask application: HTML listing, JSON API, downloads, health and metrics."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, send_file, send_from_directory
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from . import metrics
from .config import Config
from .health import aggregate, run_checks
from .models import Document, NewDocument
from .services import Services
from .static_assets import SOURCE_DIR, AssetResolver
from .storage import StorageFull, display_name

log = logging.getLogger(__name__)

LISTING_LIMIT = 100
MAX_LISTING_LIMIT = 500
_MIME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}/[a-zA-Z0-9][a-zA-Z0-9!#$&^_.+-]{0,126}$")


class InsufficientStorage(HTTPException):
    code = 507
    description = "not enough free space on the documents volume"


def content_disposition(name: str) -> str:
    """``attachment`` header with an ASCII fallback and the RFC 5987 UTF-8 name."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _clean_mime(value: str | None) -> str:
    return value if value and _MIME_RE.match(value) else "application/octet-stream"


def create_app(config: Config, services: Services) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=config.secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=config.max_upload_bytes or None,
        JSON_SORT_KEYS=False,
    )
    static_dir = Path(config.static_dir)
    if not (static_dir / "manifest.json").is_file() and SOURCE_DIR.is_dir():
        log.warning("no manifest in %s; serving unhashed assets from %s", static_dir, SOURCE_DIR)
        static_dir = SOURCE_DIR
    assets = AssetResolver(static_dir)
    live = metrics.LiveCollector(
        release=config.release_id,
        queue_length=services.queue.length,
        documents_stored=services.repo.count,
    )
    app.extensions["docshare"] = {"config": config, "services": services, "assets": assets}

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {"asset_url": assets.url, "release": config.release_id}

    # --- instrumentation -------------------------------------------------------------
    @app.before_request
    def _start_timer() -> None:
        g.docshare_start = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        start = g.pop("docshare_start", None)
        if start is not None:
            route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            metrics.observe_request(request.method, route, response.status_code, time.perf_counter() - start)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Docshare-Release", config.release_id)
        return response

    @app.errorhandler(psycopg.OperationalError)
    def _database_down(exc: Exception) -> tuple[Response | str, int]:
        log.error("database unavailable: %s", exc)
        if request.path == "/":
            return render_template("unavailable.html"), 503
        return jsonify(error="database unavailable"), 503

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if request.path.startswith("/api/") or request.path.startswith("/documents/"):
            resp = jsonify(error=exc.description or exc.name)
            resp.status_code = exc.code or 500
            return resp
        return exc

    # --- listing ---------------------------------------------------------------------
    def listing_payload() -> tuple[bytes, bool]:
        payload, token = services.cache.get()
        if payload is not None:
            metrics.CACHE_LOOKUPS.labels("hit").inc()
            return payload, True
        metrics.CACHE_LOOKUPS.labels("miss" if token is not None else "unavailable").inc()
        docs = services.repo.list_recent(LISTING_LIMIT)
        payload = json.dumps({"documents": [d.to_dict() for d in docs]}).encode()
        if token is not None:
            services.cache.put(token, payload)
        return payload, False

    @app.get("/")
    def index() -> str:
        payload, _ = listing_payload()
        documents = json.loads(payload)["documents"]
        return render_template("index.html", documents=documents)

    @app.get("/api/documents")
    def list_documents() -> Response:
        if "limit" in request.args or "offset" in request.args:
            limit = min(max(request.args.get("limit", LISTING_LIMIT, type=int) or 1, 1), MAX_LISTING_LIMIT)
            offset = max(request.args.get("offset", 0, type=int) or 0, 0)
            docs = services.repo.list_recent(limit, offset)
            resp = jsonify(documents=[d.to_dict() for d in docs])
            resp.headers["X-Cache"] = "BYPASS"
            return resp
        payload, hit = listing_payload()
        resp = Response(payload, mimetype="application/json")
        resp.headers["X-Cache"] = "HIT" if hit else "MISS"
        return resp

    # --- upload ----------------------------------------------------------------------
    def handle_upload() -> tuple[Document, bool]:
        upload = request.files.get("file")
        if not isinstance(upload, FileStorage) or not upload.filename:
            abort(400, description="multipart field 'file' with a file name is required")
        name = display_name(upload.filename)
        try:
            saved = services.store.save(upload.stream, name)
        except StorageFull as exc:
            raise InsufficientStorage(description=str(exc)) from exc
        try:
            doc = services.repo.add(
                NewDocument(
                    name=name,
                    stored_name=saved.stored_name,
                    content_type=_clean_mime(upload.mimetype),
                    size_bytes=saved.size,
                )
            )
        except BaseException:
            services.store.delete(saved.stored_name)
            raise
        services.cache.invalidate()
        queued = services.queue.enqueue_processing(doc.id)
        metrics.UPLOADS.inc()
        metrics.UPLOAD_BYTES.inc(saved.size)
        if not queued:
            metrics.ENQUEUE_FAILURES.inc()
        return doc, queued

    @app.post("/api/documents")
    def upload_document() -> tuple[Response, int, dict[str, str]]:
        doc, queued = handle_upload()
        body = doc.to_dict() | {"queued": queued}
        return jsonify(body), 201, {"Location": f"/api/documents/{doc.id}"}

    @app.post("/upload")
    def upload_form() -> WerkzeugResponse:
        handle_upload()
        return redirect("/", code=303)

    # --- one document ----------------------------------------------------------------
    def get_or_404(doc_id: int) -> Document:
        doc = services.repo.get(doc_id)
        if doc is None:
            abort(404, description="no such document")
        return doc

    @app.get("/api/documents/<int:doc_id>")
    def document_metadata(doc_id: int) -> Response:
        return jsonify(get_or_404(doc_id).to_dict())

    @app.get("/documents/<int:doc_id>/download")
    def download(doc_id: int) -> Response:
        doc = get_or_404(doc_id)
        if not services.store.exists(doc.stored_name):
            abort(404, description="the document's file is missing")
        mimetype = doc.mime_type or doc.content_type or "application/octet-stream"
        if config.streams_files:
            resp = send_file(
                services.store.path(doc.stored_name), mimetype=mimetype, conditional=True, etag=True, max_age=0
            )
        else:
            resp = Response(b"", mimetype=mimetype)
            resp.headers["X-Accel-Redirect"] = config.accel_prefix + doc.stored_name
        resp.headers["Content-Disposition"] = content_disposition(doc.name)
        resp.headers["Cache-Control"] = "private, no-cache"
        return resp

    # --- operations ------------------------------------------------------------------
    @app.get("/health")
    def health() -> tuple[Response, int]:
        status, body = aggregate(run_checks(services.health_checks), config.release_id)
        resp = jsonify(body)
        resp.headers["Cache-Control"] = "no-store"
        return resp, status

    @app.get("/health/live")
    def health_live() -> Response:
        return jsonify(status="ok", release=config.release_id)

    @app.get("/metrics")
    def metrics_endpoint() -> Response:
        body, content_type = metrics.render(live)
        return Response(body, content_type=content_type)

    @app.get("/static/<path:filename>")
    def static_file(filename: str) -> Response:
        immutable = assets.is_immutable(filename)
        resp = send_from_directory(static_dir, filename, max_age=31_536_000 if immutable else 300)
        if immutable:
            resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return resp

    return app
