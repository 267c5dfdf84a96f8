"""Configuration from the environment (``NOTES_*``), parsed and validated in one place.

``settings.py`` calls :func:`load`. Only ``manage.py collectstatic`` and ``compilemessages`` (the image build: no
database, Redis or secrets) may run with the required variables missing; any other process
stops at start-up with an error that names every missing or malformed variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

DEFAULT_STATIC_ROOT = "/app/static"
# Commands that need no database, Redis or secret: what the image builder runs.
BUILD_COMMANDS = frozenset({"collectstatic", "compilemessages"})
# name -> example shown when it is missing
REQUIRED = {
    "NOTES_DATABASE_URL": "postgresql://user:pass@host:5432/notes",
    "NOTES_REDIS_URL": "redis://user:pass@host:6379/0",
    "NOTES_SECRET_KEY": "a long random string",
    "NOTES_ALLOWED_HOSTS": "notes.example.org,127.0.0.1",
}


class ConfigError(ImproperlyConfigured):
    """The environment does not describe a usable configuration; ``errors`` lists why."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("notes: invalid configuration: " + "; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Config:
    database: dict[str, Any]  # Django's DATABASES["default"]
    redis_url: str
    secret_key: str
    allowed_hosts: list[str]
    csrf_trusted_origins: list[str]
    release: str = "dev"
    debug: bool = False
    static_root: str = DEFAULT_STATIC_ROOT
    log_level: str = "INFO"


def is_build_command(argv: Sequence[str]) -> bool:
    """True for ``manage.py collectstatic`` or ``compilemessages`` (or through ``django-admin``)."""
    if len(argv) < 2:
        return False
    program = os.path.basename(argv[0])
    return program in {"manage.py", "django-admin"} and argv[1] in BUILD_COMMANDS


def split_list(raw: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_settings(url: str) -> dict[str, Any]:
    """``postgresql://user:pass@host:port/db`` -> Django's settings for the psycopg 3 backend."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {"connect_timeout": 5},
    }


def _url_errors(name: str, value: str, schemes: tuple[str, ...], needs_path: bool) -> list[str]:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return [f"{name} is not a valid URL ({exc})"]
    if parts.scheme not in schemes:
        return [f"{name} must start with {' or '.join(s + '://' for s in schemes)} (got {parts.scheme or 'no scheme'})"]
    if not parts.hostname:
        return [f"{name} has no host"]
    if needs_path and not parts.path.strip("/"):
        return [f"{name} has no database name after the host"]
    return []


def load(env: Mapping[str, str], *, build_only: bool = False) -> Config:
    """Read ``env``; raise :class:`ConfigError` naming each bad variable.

    With ``build_only`` the required variables may be missing: placeholders stand in, and the
    database backend is Django's dummy one, so any query fails loudly.
    """
    values = {name: env.get(name, "").strip() for name in REQUIRED}
    errors = [f"{name} is not set (for example {example})" for name, example in REQUIRED.items() if not values[name]]
    if values["NOTES_DATABASE_URL"]:
        errors += _url_errors("NOTES_DATABASE_URL", values["NOTES_DATABASE_URL"], ("postgresql", "postgres"), True)
    if values["NOTES_REDIS_URL"]:
        errors += _url_errors("NOTES_REDIS_URL", values["NOTES_REDIS_URL"], ("redis", "rediss"), False)
    allowed_hosts = split_list(values["NOTES_ALLOWED_HOSTS"])
    if values["NOTES_ALLOWED_HOSTS"] and not allowed_hosts:
        errors.append("NOTES_ALLOWED_HOSTS lists no host")
    origins = split_list(env.get("NOTES_CSRF_TRUSTED_ORIGINS", ""))
    errors += [
        f"NOTES_CSRF_TRUSTED_ORIGINS entry {origin!r} must start with https:// or http://"
        for origin in origins
        if not origin.startswith(("https://", "http://"))
    ]
    if build_only:
        database: dict[str, Any] = {"ENGINE": "django.db.backends.dummy"}
        secret_key = values["NOTES_SECRET_KEY"] or secrets.token_urlsafe(50)
    elif errors:
        raise ConfigError(errors)
    else:
        database = database_settings(values["NOTES_DATABASE_URL"])
        secret_key = values["NOTES_SECRET_KEY"]
    return Config(
        database=database,
        redis_url=values["NOTES_REDIS_URL"] or "memory://",
        secret_key=secret_key,
        allowed_hosts=allowed_hosts,
        csrf_trusted_origins=origins,
        release=env.get("NOTES_RELEASE", "").strip() or "dev",
        debug=env.get("NOTES_DEBUG", "") == "1",
        static_root=env.get("NOTES_STATIC_ROOT", "").strip() or DEFAULT_STATIC_ROOT,
        log_level=env.get("NOTES_LOG_LEVEL", "").strip().upper() or "INFO",
    )
