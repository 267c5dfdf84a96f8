"""Unit tests of roles/nginx/files/bundle-upstream (drain state kept per host, refusals, undo on failure)."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "nginx" / "files" / "bundle-upstream"


def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test: str = "true", reload: str = "true"):
    monkeypatch.setenv("BUNDLE_UPSTREAM_CONF_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("BUNDLE_UPSTREAM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BUNDLE_UPSTREAM_TEST", test)
    monkeypatch.setenv("BUNDLE_UPSTREAM_RELOAD", reload)
    loader = importlib.machinery.SourceFileLoader("bundle_upstream", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bundle_upstream", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    (tmp_path / "conf").mkdir()
    for host, address in (("app1", "10.0.0.11"), ("app2", "10.0.0.12")):
        (tmp_path / "conf" / f"{host}.conf").write_text(
            f"# managed\n# {host}\nserver {address}:8000 max_fails=3 fail_timeout=10s;\n")
    return module


def test_drain_marks_only_that_host_and_keeps_a_flag(tmp_path, monkeypatch, capsys):
    mod = load(tmp_path, monkeypatch)
    assert mod.main(["x", "drain", "app1"]) == 0
    assert capsys.readouterr().out.strip() == "changed"
    assert (tmp_path / "conf" / "app1.conf").read_text().endswith("server 10.0.0.11:8000 max_fails=3 fail_timeout=10s down;\n")
    assert (tmp_path / "state" / "app1").exists()
    assert mod.hosts() == {"app1": "drained", "app2": "up"}
    assert mod.main(["x", "drain", "app1"]) == 0
    assert capsys.readouterr().out.strip() == "unchanged"


def test_draining_the_second_host_never_undrains_the_first_but_the_last_one_is_refused(tmp_path, monkeypatch, capsys):
    mod = load(tmp_path, monkeypatch)
    assert mod.main(["x", "drain", "app1"]) == 0
    assert mod.main(["x", "drain", "app2"]) == 3
    assert "last host in rotation" in capsys.readouterr().err
    assert mod.hosts() == {"app1": "drained", "app2": "up"}
    assert mod.main(["x", "undrain", "app1"]) == 0
    assert mod.main(["x", "drain", "app2"]) == 0
    assert mod.hosts() == {"app1": "up", "app2": "drained"}
    assert not (tmp_path / "state" / "app1").exists()


def test_failed_test_or_reload_undoes_the_change(tmp_path, monkeypatch, capsys):
    mod = load(tmp_path, monkeypatch, reload="false")
    before = (tmp_path / "conf" / "app1.conf").read_text()
    assert mod.main(["x", "drain", "app1"]) == 1
    assert "change undone" in capsys.readouterr().err
    assert (tmp_path / "conf" / "app1.conf").read_text() == before
    assert not (tmp_path / "state" / "app1").exists()


def test_unknown_host_and_bad_usage(tmp_path, monkeypatch, capsys):
    mod = load(tmp_path, monkeypatch)
    assert mod.main(["x", "drain", "db1"]) == 2
    assert "not an upstream host" in capsys.readouterr().err
    assert mod.main(["x", "flip", "app1"]) == 2


def test_status_is_json(tmp_path, monkeypatch, capsys):
    mod = load(tmp_path, monkeypatch)
    assert mod.main(["x", "status"]) == 0
    assert json.loads(capsys.readouterr().out) == {"app1": "up", "app2": "up"}


def test_set_down_round_trip_keeps_other_parameters():
    mod_text = "server 10.0.0.1:8000 max_fails=3 fail_timeout=10s;\n"
    loader = importlib.machinery.SourceFileLoader("bu", str(SCRIPT))
    spec = importlib.util.spec_from_loader("bu", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    down = mod.set_down(mod_text, True)
    assert down == "server 10.0.0.1:8000 max_fails=3 fail_timeout=10s down;\n"
    assert mod.set_down(down, False) == mod_text
    assert mod.is_down(down.strip()) and not mod.is_down(mod_text.strip())
