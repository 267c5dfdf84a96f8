from __future__ import annotations

import pytest

from docshare.config import DEFAULT_ACCEL_PREFIX, MIB, ConfigError, load_config, parse_config

BASE = {
    "DOCSHARE_DATABASE_URL": "postgresql://app:secret@db.internal:5432/docshare",
    "DOCSHARE_REDIS_URL": "redis://:pw@redis.internal:6379/0",
    "DOCSHARE_SECRET_KEY": "x" * 32,
}


def test_defaults() -> None:
    config = load_config(BASE)
    assert config.documents_dir == "/srv/documents"
    assert config.static_dir == "/app/static"
    assert config.min_free_bytes == 100 * MIB
    assert config.accel_prefix == DEFAULT_ACCEL_PREFIX == "/_protected/documents/"
    assert config.release_id == "dev"
    assert not config.streams_files
    assert config.warnings == ()


def test_overrides() -> None:
    config = load_config(
        BASE
        | {
            "DOCSHARE_DOCUMENTS_DIR": "/mnt/docs",
            "DOCSHARE_STATIC_DIR": "/opt/static",
            "DOCSHARE_RELEASE_ID": "r1a2b3c-4d5e",
            "DOCSHARE_MIN_FREE_BYTES": "1024",
            "DOCSHARE_ACCEL_PREFIX": "/internal/",
        }
    )
    assert (config.documents_dir, config.static_dir) == ("/mnt/docs", "/opt/static")
    assert config.release_id == "r1a2b3c-4d5e"
    assert config.min_free_bytes == 1024
    assert config.accel_prefix == "/internal/"


def test_empty_accel_prefix_means_streaming() -> None:
    config = load_config(BASE | {"DOCSHARE_ACCEL_PREFIX": ""})
    assert config.accel_prefix == ""
    assert config.streams_files


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("DOCSHARE_DATABASE_URL", "", "DOCSHARE_DATABASE_URL is required"),
        ("DOCSHARE_DATABASE_URL", "mysql://h/db", "DOCSHARE_DATABASE_URL must use"),
        ("DOCSHARE_DATABASE_URL", "postgresql:///db", "has no host"),
        ("DOCSHARE_REDIS_URL", "http://redis:6379", "DOCSHARE_REDIS_URL must use"),
        ("DOCSHARE_MIN_FREE_BYTES", "lots", "must be an integer"),
        ("DOCSHARE_MIN_FREE_BYTES", "-1", "must be >= 0"),
        ("DOCSHARE_DOCUMENTS_DIR", "relative/docs", "absolute path"),
        ("DOCSHARE_ACCEL_PREFIX", "_protected", "must start and end with '/'"),
    ],
)
def test_invalid_values_are_reported(key: str, value: str, fragment: str) -> None:
    _, errors = parse_config(BASE | {key: value})
    assert any(fragment in e for e in errors), errors
    with pytest.raises(ConfigError):
        load_config(BASE | {key: value})


def test_all_errors_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_config({})
    assert len(info.value.errors) == 2


def test_secret_key_warnings() -> None:
    missing = load_config({k: v for k, v in BASE.items() if k != "DOCSHARE_SECRET_KEY"})
    short = load_config(BASE | {"DOCSHARE_SECRET_KEY": "short"})
    assert any("not set" in w for w in missing.warnings)
    assert any("shorter" in w for w in short.warnings)
