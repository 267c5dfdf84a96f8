"""A release id is one fact: module_utils/bundle_ledger.py RELEASE_PATTERN. Its Python copies, the operations
inputs' pattern and every place a task or a document states it must equal it (Jinja checks it with the filter
bundle_release_id where it can)."""
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


def test_every_task_template_and_document_states_the_same_pattern():
    """Where a task (the snapshot ids' preflight, snapshot.yml), an argument spec or a README states the pattern,
    it is RELEASE_PATTERN, character for character (they disagreed in 4 variants before)."""
    like = re.compile(r"\[A-Za-z0-9_?\]\[A-Za-z0-9[._-]{3}\](?:\{\d+,\d+\}|\*)?|\[A-Za-z0-9[._-]{3}\]\{1,128\}")
    body = bundle_ledger.RELEASE_PATTERN[1:-1]
    stated = {(str(path.relative_to(ROOT)), found) for top in ("roles", "playbooks") for path in (ROOT / top).rglob("*")
              if path.suffix in (".yml", ".j2", ".md") for found in like.findall(path.read_text())}
    assert len(stated) >= 10, stated
    assert {found for _, found in stated} == {body}, sorted(item for item in stated if item[1] != body)


def test_the_filter_accepts_release_ids_and_nothing_else():
    for good in ("src-3f2a9c1b2d4e", "v1.2.3", "0abc", "a" * 128):
        assert bundle_ops.bundle_release_id(good), good
    for bad in ("", "_x", "-x", ".x", "a b", "a/b", "a" * 129, None, 3):
        assert not bundle_ops.bundle_release_id(bad), bad
