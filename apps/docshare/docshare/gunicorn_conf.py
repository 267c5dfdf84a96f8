"""Gunicorn settings: ``gunicorn -c python:docshare.gunicorn_conf docshare.wsgi:app``.

Command-line options override these. Values can also come from the environment
(``GUNICORN_WORKERS``/``WEB_CONCURRENCY``, ``GUNICORN_TIMEOUT``).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", os.environ.get("WEB_CONCURRENCY", "2")))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
worker_tmp_dir = "/tmp"
# The control socket would be created under $HOME, which is read-only in the container.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Start from an empty metrics directory (files of a previous run would be merged)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "/tmp/docshare-metrics")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def child_exit(server: Any, worker: Any) -> None:
    from docshare.metrics import mark_process_dead

    mark_process_dead(worker.pid)
