"""WSGI entry point: ``gunicorn docshare.wsgi:app``."""

from __future__ import annotations

from . import metrics  # noqa: F401 - must be imported before prometheus_client elsewhere
from .config import load_config
from .logs import setup_logging
from .services import build_services
from .web import create_app

setup_logging()
_config = load_config()
app = create_app(_config, build_services(_config))
