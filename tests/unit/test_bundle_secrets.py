"""Unit tests of plugins/filter/bundle_secrets.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from bundle_secrets import bundle_secret_problem  # noqa: E402


@pytest.mark.parametrize("value,problem", [
    ("", "not set"), (None, "not set"),
    ("change-me-at-least-16-chars", "a placeholder from an example"),
    ("CHANGEME-1234567890abcdef", "a placeholder from an example"),
    ("xxxxxxxxxxxxxxxxxxxx", "a placeholder from an example"),
    ("short", "shorter than 16 characters"),
    ("has spaces in it 1234567", "contains spaces"),
    ("Kq3vN8wz1LmP0rT5yU7iO2eW", ""),
])
def test_secret_problems(value, problem):
    assert bundle_secret_problem(value, 16) == problem


def test_min_length_is_the_callers():
    assert bundle_secret_problem("Kq3vN8wz1LmP0rT5yU7iO2eW", 32) == "shorter than 32 characters"
