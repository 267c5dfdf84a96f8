from __future__ import annotations

import json

import pytest

from docshare.manage import build_parser, main

VALID = {
    "DOCSHARE_DATABASE_URL": "postgresql://u:p@db:5432/d",
    "DOCSHARE_REDIS_URL": "redis://:p@redis:6379/0",
    "DOCSHARE_SECRET_KEY": "k" * 32,
    "DOCSHARE_RELEASE_ID": "r9",
}


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("DOCSHARE_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_check_valid(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in VALID.items():
        clean_env.setenv(k, v)
    assert main(["check"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"valid": True, "errors": [], "warnings": [], "release": "r9"}


def test_check_invalid(clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("DOCSHARE_DATABASE_URL", "sqlite:///x")
    assert main(["check"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["valid"] is False
    assert "DOCSHARE_REDIS_URL is required" in captured.err


def test_commands_needing_config_exit_2_without_it(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["migrate"], ["cleanup-orphans", "--dry-run"], ["db-upkeep"]):
        assert main(command) == 2
    assert "DOCSHARE_DATABASE_URL is required" in capsys.readouterr().err


def test_parser_knows_the_contract_commands() -> None:
    parser = build_parser()
    assert parser.parse_args(["cleanup-orphans", "--dry-run"]).dry_run is True
    assert parser.parse_args(["build-static", "--out", "/x"]).out == "/x"
    assert parser.parse_args(["cleanup-orphans", "--quarantine", "/srv/documents/.quarantine/2026-12-01"]).quarantine
    assert parser.parse_args(["cleanup-orphans"]).quarantine is None
    for command in ("migrate", "db-upkeep", "check"):
        assert parser.parse_args([command]).command == command
    with pytest.raises(SystemExit):
        parser.parse_args(["build-static"])  # --out is required


def test_quarantine_must_be_an_absolute_path() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cleanup-orphans", "--quarantine", "relative/dir"])
