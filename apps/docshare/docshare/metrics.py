"""Prometheus metrics.

Gunicorn runs several worker processes, so request metrics use prometheus_client's
multiprocess mode: each process writes to files under ``PROMETHEUS_MULTIPROC_DIR`` (default
``/tmp/docshare-metrics``, the only writable place on a read-only root) and ``/metrics``
merges them. Queue length, documents stored and build info are read at scrape time.
Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty string for single-process mode.
"""

from __future__ import annotations

import os

from .config import DEFAULT_METRICS_DIR


def _prepare_multiproc_dir() -> str | None:
    # Must run before prometheus_client is imported: it picks its value class at import time.
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", DEFAULT_METRICS_DIR)
    if not path:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        return None
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


MULTIPROC_DIR = _prepare_multiproc_dir()

import logging  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402

from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "docshare_http_requests_total",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "docshare_http_request_duration_seconds",
    "HTTP request latency by method, route and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UPLOADS = Counter("docshare_uploads_total", "Documents uploaded.", [])
UPLOAD_BYTES = Counter("docshare_upload_bytes_total", "Bytes uploaded.", [])
ENQUEUE_FAILURES = Counter(
    "docshare_enqueue_failures_total", "Uploads whose processing job could not be queued (swept later).", []
)
CACHE_LOOKUPS = Counter("docshare_listing_cache_total", "Listing cache lookups by result.", ["result"])


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    labels = (method, route, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


class LiveCollector(Collector):
    """Values read at scrape time: queue length, documents stored, build info."""

    def __init__(
        self,
        release: str,
        queue_length: Callable[[], int | None],
        documents_stored: Callable[[], int | None],
    ) -> None:
        self.release = release
        self.queue_length = queue_length
        self.documents_stored = documents_stored

    def _safe(self, read: Callable[[], int | None], what: str) -> int | None:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail on a dead dependency
            log.warning("metrics: could not read %s: %s", what, exc)
            return None

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("docshare_build_info", "Release of the running code.", labels=["release"])
        info.add_metric([self.release], 1)
        yield info
        queued = self._safe(self.queue_length, "queue length")
        if queued is not None:
            g = GaugeMetricFamily("docshare_queue_length", "Jobs waiting in the RQ queue.", labels=["queue"])
            g.add_metric(["docshare"], queued)
            yield g
        stored = self._safe(self.documents_stored, "documents stored")
        if stored is not None:
            yield GaugeMetricFamily("docshare_documents_stored", "Documents recorded in the database.", value=stored)


def render(live: Collector | None) -> tuple[bytes, str]:
    """The /metrics body and its content type."""
    registry: CollectorRegistry = REGISTRY
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    body = generate_latest(registry)
    if live is not None:
        extra = CollectorRegistry()
        extra.register(live)
        body += generate_latest(extra)
    return body, CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Called by gunicorn's ``child_exit`` hook."""
    if MULTIPROC_DIR:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
