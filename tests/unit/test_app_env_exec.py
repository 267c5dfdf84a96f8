"""Unit tests of roles/app/files/env-exec (secrets to the containers without docker --env-file)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "app" / "files" / "env-exec"
loader = importlib.machinery.SourceFileLoader("env_exec", str(SCRIPT))
spec = importlib.util.spec_from_loader("env_exec", loader)
env_exec = importlib.util.module_from_spec(spec)
loader.exec_module(env_exec)


def test_values_are_taken_literally():
    env = env_exec.parse("# managed\n\nDATABASE_URL=postgresql://u:p%40ss$word@db:5432/app\nKEY='quoted'\nEMPTY=\n")
    assert env == {"DATABASE_URL": "postgresql://u:p%40ss$word@db:5432/app", "KEY": "'quoted'", "EMPTY": ""}


@pytest.mark.parametrize("line", ["no equals sign", "1BAD=x", "BAD-KEY=x", "=x"])
def test_malformed_lines_are_refused(line):
    with pytest.raises(ValueError, match="line 1"):
        env_exec.parse(line)


def test_the_command_sees_the_values(tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("SECRET_KEY=s3cr$t\n")
    out = subprocess.run([sys.executable, str(SCRIPT), str(env_file), sys.executable, "-c", "import os; print(os.environ['SECRET_KEY'])"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "s3cr$t"


def test_unreadable_file_fails_clearly(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing.env"), "true"], capture_output=True, text=True)
    assert out.returncode == 2 and "missing.env" in out.stderr
