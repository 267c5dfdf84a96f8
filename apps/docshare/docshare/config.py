"""Configuration from the environment (``DOCSHARE_*``), parsed once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MIB = 1024 * 1024

DEFAULT_DOCUMENTS_DIR = "/srv/documents"
DEFAULT_STATIC_DIR = "/app/static"
DEFAULT_MIN_FREE_BYTES = 100 * MIB
DEFAULT_ACCEL_PREFIX = "/_protected/documents/"
DEFAULT_MAX_UPLOAD_BYTES = 50 * MIB
DEFAULT_METRICS_DIR = "/tmp/docshare-metrics"
QUEUE_NAME = "docshare"


class ConfigError(ValueError):
    """Raised when the environment does not describe a usable configuration."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    documents_dir: str = DEFAULT_DOCUMENTS_DIR
    static_dir: str = DEFAULT_STATIC_DIR
    release_id: str = "dev"
    secret_key: str = ""
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    accel_prefix: str = DEFAULT_ACCEL_PREFIX
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    cache_ttl_seconds: int = 30
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def streams_files(self) -> bool:
        """True when the app sends file bodies itself (no X-Accel-Redirect)."""
        return self.accel_prefix == ""


def _int(env: Mapping[str, str], name: str, default: int, errors: list[str]) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        errors.append(f"{name} must be an integer, got {raw!r}")
        return default
    if value < 0:
        errors.append(f"{name} must be >= 0, got {value}")
    return value


def _check_url(name: str, value: str, schemes: tuple[str, ...], errors: list[str]) -> None:
    if not value:
        errors.append(f"{name} is required")
        return
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        errors.append(f"{name} must use one of {', '.join(schemes)}:// (got {parts.scheme or 'none'})")
    elif parts.scheme != "unix" and not parts.hostname:
        errors.append(f"{name} has no host")


def parse_config(env: Mapping[str, str] | None = None) -> tuple[Config, list[str]]:
    """Parse ``env`` (default: ``os.environ``); return the config and a list of errors."""
    env = os.environ if env is None else env
    errors: list[str] = []
    warnings: list[str] = []

    database_url = env.get("DOCSHARE_DATABASE_URL", "").strip()
    redis_url = env.get("DOCSHARE_REDIS_URL", "").strip()
    _check_url("DOCSHARE_DATABASE_URL", database_url, ("postgresql", "postgres"), errors)
    _check_url("DOCSHARE_REDIS_URL", redis_url, ("redis", "rediss", "unix"), errors)

    documents_dir = env.get("DOCSHARE_DOCUMENTS_DIR", "").strip() or DEFAULT_DOCUMENTS_DIR
    static_dir = env.get("DOCSHARE_STATIC_DIR", "").strip() or DEFAULT_STATIC_DIR
    for name, path in (("DOCSHARE_DOCUMENTS_DIR", documents_dir), ("DOCSHARE_STATIC_DIR", static_dir)):
        if not os.path.isabs(path):
            errors.append(f"{name} must be an absolute path, got {path!r}")

    # An unset prefix means the default; an empty one means "stream files ourselves".
    accel_prefix = env.get("DOCSHARE_ACCEL_PREFIX", DEFAULT_ACCEL_PREFIX).strip()
    if accel_prefix and not (accel_prefix.startswith("/") and accel_prefix.endswith("/")):
        errors.append(f"DOCSHARE_ACCEL_PREFIX must start and end with '/' or be empty, got {accel_prefix!r}")

    secret_key = env.get("DOCSHARE_SECRET_KEY", "")
    if not secret_key:
        warnings.append("DOCSHARE_SECRET_KEY is not set: a random per-process key is used")
    elif len(secret_key) < 16:
        warnings.append("DOCSHARE_SECRET_KEY is shorter than 16 characters")

    release_id = env.get("DOCSHARE_RELEASE_ID", "").strip() or "dev"

    config = Config(
        database_url=database_url,
        redis_url=redis_url,
        documents_dir=documents_dir,
        static_dir=static_dir,
        release_id=release_id,
        secret_key=secret_key,
        min_free_bytes=_int(env, "DOCSHARE_MIN_FREE_BYTES", DEFAULT_MIN_FREE_BYTES, errors),
        accel_prefix=accel_prefix,
        max_upload_bytes=_int(env, "DOCSHARE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, errors),
        cache_ttl_seconds=_int(env, "DOCSHARE_CACHE_TTL", 30, errors),
        warnings=tuple(warnings),
    )
    return config, errors


def load_config(env: Mapping[str, str] | None = None) -> Config:
    """Parse and validate; raise :class:`ConfigError` listing every problem."""
    config, errors = parse_config(env)
    if errors:
        raise ConfigError(errors)
    return config
