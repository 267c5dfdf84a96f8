"""A release id is one fact: module_utils/bundle_ledger.py RELEASE_PATTERN. Its Python copies and the operations
inputs' pattern must equal it, and no task re-declares it (Jinja checks it with the filter bundle_release_id)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
sys.path.insert(0, str(ROOT / "plugins" / "module_utils"))

import app_release  # noqa: E402
import bundle_ledger  # noqa: E402
import bundle_ops  # noqa: E402
import bundle_snapshot  # noqa: E402


def test_every_copy_of_the_release_pattern_is_the_ledgers():
    pattern = bundle_ledger.RELEASE_PATTERN
    assert app_release.RELEASE_RE.pattern == pattern
    assert bundle_snapshot.ID_PATTERN == pattern
    inputs = yaml.safe_load((ROOT / "roles" / "deploy" / "vars" / "main.yml").read_text())
    assert f"^{inputs['__deploy_release_pattern']}$" == pattern


def test_no_task_or_template_declares_its_own_release_pattern():
    declared = re.compile(r"\[A-Za-z0-9_?\]\[A-Za-z0-9_.-\]|\[A-Za-z0-9_.-\]\{1,128\}")
    found = [str(path.relative_to(ROOT)) for top in ("roles", "playbooks") for path in (ROOT / top).rglob("*")
             if path.suffix in (".yml", ".j2") and declared.search(path.read_text())]
    assert found == ["roles/deploy/vars/main.yml"], found


def test_the_filter_accepts_release_ids_and_nothing_else():
    for good in ("src-3f2a9c1b2d4e", "v1.2.3", "0abc", "a" * 128):
        assert bundle_ops.bundle_release_id(good), good
    for bad in ("", "_x", "-x", ".x", "a b", "a/b", "a" * 129, None, 3):
        assert not bundle_ops.bundle_release_id(bad), bad
