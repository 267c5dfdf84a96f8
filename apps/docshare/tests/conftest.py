"""Test setup: make the ``docshare`` package importable and keep metrics files in a temp dir."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

APP_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
for p in (APP_ROOT, TESTS_DIR):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

# prometheus_client chooses multiprocess mode when it is first imported: point it at a
# private directory so the tests exercise the same code path as gunicorn.
_METRICS_DIR = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="docshare-test-metrics-")


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    if _METRICS_DIR:
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)
