"""Unit tests of plugins/filter/app_release.py (release ids, archive tags, prune choice)."""
from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

import app_release as ar  # noqa: E402


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "requirements.txt").write_text("flask\n")
    return tmp_path


def test_tree_hash_ignores_patterns_and_sees_content(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = ar.app_tree_hash(str(root), ["__pycache__", "*.pyc", ".git"])
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    assert ar.app_tree_hash(str(root), ["__pycache__", "*.pyc", ".git"]) == first
    (root / "pkg" / "__init__.py").write_text("x = 2\n")
    assert ar.app_tree_hash(str(root), ["__pycache__", "*.pyc", ".git"]) != first


def test_tree_hash_sees_renames(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = ar.app_tree_hash(str(root))
    (root / "requirements.txt").rename(root / "reqs.txt")
    assert ar.app_tree_hash(str(root)) != first


def test_tree_hash_rejects_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ar.app_tree_hash(str(tmp_path / "nope"))


def test_release_id_shape_and_inputs() -> None:
    base = ar.app_release_id("abc", "", "FROM x", {"a": 1})
    assert base.startswith("src-") and len(base) == len("src-") + 12
    assert ar.app_release_id("abc", "", "FROM x", {"a": 1}) == base
    assert ar.app_release_id("abc", "", "FROM y", {"a": 1}) != base
    assert ar.app_release_id("abc", "", "FROM x", {"a": 2}) != base
    assert ar.app_release_id("abd", "", "FROM x", {"a": 1}) != base
    assert ar.app_release_id("abc", "1a2b3c4", "FROM x", {"a": 1}).startswith("1a2b3c4-")
    assert ar.app_release_id("abc", "v1.0/bad name", "FROM x").startswith("v1.0badname-")


def test_archive_tags(tmp_path: Path) -> None:
    path = tmp_path / "img.tar"
    manifest = json.dumps([{"Config": "c.json", "RepoTags": ["lab/base:1234"], "Layers": []}]).encode()
    with tarfile.open(path, "w") as archive:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        archive.addfile(info, io.BytesIO(manifest))
    assert ar.app_archive_tags(str(path)) == ["lab/base:1234"]


def test_images_to_prune_keeps_newest_and_protected() -> None:
    images = ar.app_image_list("r1\t2026-01-01 10:00:00\nr2\t2026-01-02 10:00:00\n<none>\t2026-01-03\n"
                               "r3\t2026-01-03 10:00:00\nr4\t2026-01-04 10:00:00\n")
    assert [i["tag"] for i in images] == ["r1", "r2", "r3", "r4"]
    assert ar.app_images_to_prune(images, 2, []) == ["r2", "r1"]
    assert ar.app_images_to_prune(images, 1, ["r1", "r4"]) == ["r2"]
    assert ar.app_images_to_prune(images, 10, []) == []


def test_tags_in_use() -> None:
    refs = ["docshare:r1", "other:r2", "docshare:r3", "registry/docshare:r9"]
    assert ar.app_tags_in_use(refs, "docshare") == ["r1", "r3"]


def test_build_arg_flags() -> None:
    assert ar.app_build_arg_flags({"B": "2", "A": 1}) == ["--build-arg", "A=1", "--build-arg", "B=2"]
    assert ar.app_build_arg_flags(None) == []
    with pytest.raises(ValueError):
        ar.app_build_arg_flags({"bad name": "x"})


# --- secrets and slot state ---------------------------------------------------------------
from app_release import app_redact, app_slot_state, app_url_without_credentials  # noqa: E402


def test_url_without_credentials_drops_user_and_token():
    assert app_url_without_credentials("https://ci:t0ken@pypi.example.org/simple") == "https://pypi.example.org/simple"
    assert app_url_without_credentials("https://pypi.org/simple") == "https://pypi.org/simple"
    assert app_url_without_credentials("") == ""


def test_redact_masks_url_passwords_and_env_values():
    env = {"DATABASE_URL": "postgresql://app:s3cr%2Ft@db:5432/app", "SECRET_KEY": "abcdefghij/kl", "DEBUG": "0"}
    out = app_redact(
        "connect postgresql://app:s3cr%2Ft@db:5432/app failed\nkey abcdefghij/kl and abcdefghij%2Fkl\nDEBUG=0", env)
    assert "s3cr" not in out and "abcdefghij" not in out
    assert "postgresql://app:***@db:5432/app" in out
    assert out.endswith("DEBUG=0"), "short values (under 6 characters) are not masked"


def test_redact_leaves_urls_without_password():
    assert app_redact("fetch https://user@host/x") == "fetch https://user@host/x"


def test_slot_state_active_release_and_idle():
    files = {"active-slot": "green\n", "web-blue.conf": "# x\nAPP_RELEASE=r1\n", "web-green.conf": "APP_RELEASE=r2\n",
             "worker.conf": "APP_RELEASE=r2\n"}
    units = {"web-blue": "inactive", "web-green": "active", "worker": "active"}
    state = app_slot_state(files, units)
    assert state["active"] == "green" and state["release"] == "r2" and state["idle"] == "blue"
    assert state["slots"]["blue"] == {"release": "r1", "running": False}
    assert state["worker"] == {"release": "r2", "running": True}


def test_slot_state_fresh_host_has_no_release():
    state = app_slot_state({}, {})
    assert state["active"] == "" and state["release"] == "" and state["idle"] == "blue"


def test_slot_state_active_slot_not_running_means_no_release():
    state = app_slot_state({"active-slot": "blue", "web-blue.conf": "APP_RELEASE=r1"}, {"web-blue": "failed"})
    assert state["release"] == ""


def test_log_hints_name_the_inventory_variable_behind_a_refusal():
    app_log_hints = ar.app_log_hints
    rq = "redis.exceptions.NoPermissionError: this user has no permissions to run the 'client|list' command"
    assert len(app_log_hints(rq)) == 1 and "redis_app_acl" in app_log_hints(rq)[0]
    assert "redis_app_password" in app_log_hints("WRONGPASS invalid username-password pair or user is disabled.")[0]
    pg = 'psycopg.OperationalError: connection failed: FATAL:  password authentication failed for user "app"'
    assert "postgres_db_password" in app_log_hints(pg)[0]
    assert "postgres_client_group" in app_log_hints('FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app"')[0]
    assert app_log_hints("Traceback ... ImportError: No module named 'flask'") == []
    assert app_log_hints(None) == []
