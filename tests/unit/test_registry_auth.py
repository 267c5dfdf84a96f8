"""Unit tests of the registry role's filters (plugins/filter/registry_auth.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
from registry_auth import (  # noqa: E402
    FilterModule,
    registry_htpasswd_content,
    registry_htpasswd_entries,
    registry_htpasswd_stale,
    registry_password_problem,
    registry_user_problems,
)

GOOD = "k7Qm2xVb9RtLp4Wz8NcY"
HASH10 = "$2y$10$" + "a" * 53
HASH05 = "$2y$05$" + "b" * 53
FRESH10 = "$2y$10$" + "c" * 53


def test_good_users_have_no_problems():
    assert registry_user_problems([{"name": "deploy", "password": GOOD}, {"name": "ci.bot", "password": GOOD + "x"}], 16) == []


@pytest.mark.parametrize("password, reason", [
    (None, "has no password"),
    ("", "has no password"),
    (123, "has no password"),
    ("short-one", "shorter than 16 characters"),
    ("change-me-at-least-16-chars", "placeholder"),
    ("CHANGEME0123456789abc", "placeholder"),
    ("replace_me_0123456789", "placeholder"),
    ("password0123456789abc", "placeholder"),
    ("has a space in it 0123", "whitespace"),
    ("trailing-newline-0123\n", "whitespace"),
])
def test_bad_passwords_are_named_by_user_never_shown(password, reason):
    problems = registry_user_problems([{"name": "deploy", "password": password}], 16)
    assert len(problems) == 1
    assert problems[0].startswith("registry_users 'deploy' ") and reason in problems[0]
    if isinstance(password, str) and password:
        assert password.strip() not in problems[0]


def test_min_length_is_the_callers():
    assert registry_password_problem("a" * 12 + "Zq9!", 16) is None
    assert "shorter than 20" in registry_password_problem(GOOD[:19], 20)


@pytest.mark.parametrize("users, message", [
    ([], "non-empty list"),
    (None, "non-empty list"),
    ("deploy", "non-empty list"),
    (["deploy"], "registry_users[0] must be a mapping"),
    ([{"name": "de:ploy", "password": GOOD}], "name must be letters"),
    ([{"name": "-x", "password": GOOD}], "name must be letters"),
    ([{"password": GOOD}], "registry_users[0]: name must be"),
    ([{"name": "a", "password": GOOD}, {"name": "a", "password": GOOD}], "listed twice"),
])
def test_bad_user_lists(users, message):
    problems = registry_user_problems(users, 16)
    assert any(message in p for p in problems), problems


def test_htpasswd_entries_ignore_comments_and_blanks():
    text = f"# managed\n\ndeploy:{HASH10}\nci:{HASH05}\n"
    assert registry_htpasswd_entries(text) == {"deploy": f"deploy:{HASH10}", "ci": f"ci:{HASH05}"}
    assert registry_htpasswd_entries(None) == {}


def test_verified_hashes_are_kept_so_a_converged_host_does_not_change():
    users = [{"name": "deploy", "password": GOOD}]
    existing = f"deploy:{HASH10}\n"
    assert registry_htpasswd_stale(users, existing, ["deploy"], 10) == []
    assert registry_htpasswd_content(users, existing, ["deploy"], [], 10) == existing


def test_new_changed_weak_or_non_bcrypt_entries_are_remade():
    users = [{"name": "deploy", "password": GOOD}, {"name": "ci", "password": GOOD}, {"name": "old", "password": GOOD},
             {"name": "md5", "password": GOOD}]
    existing = f"deploy:{HASH10}\nci:{HASH10}\nold:{HASH05}\nmd5:$apr1$abc$def\ngone:{HASH10}\n"
    # ci's password changed (not verified); old has cost 5 < 10; md5 is not bcrypt; new is missing.
    assert registry_htpasswd_stale(users, existing, ["deploy", "old", "md5"], 10) == ["ci", "old", "md5"]
    generated = [f"ci:{FRESH10}", f"old:{FRESH10}", f"md5:{FRESH10}"]
    content = registry_htpasswd_content(users, existing, ["deploy", "old", "md5"], generated, 10)
    assert content == f"deploy:{HASH10}\nci:{FRESH10}\nold:{FRESH10}\nmd5:{FRESH10}\n"
    assert "gone" not in content


def test_a_stale_user_without_a_generated_hash_is_an_error():
    with pytest.raises(ValueError, match="user 'deploy'"):
        registry_htpasswd_content([{"name": "deploy", "password": GOOD}], "", [], [], 10)
    with pytest.raises(ValueError, match="user 'deploy'"):
        registry_htpasswd_content([{"name": "deploy", "password": GOOD}], "", [], ["deploy:plain"], 10)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {
        "registry_password_problem", "registry_user_problems", "registry_htpasswd_content", "registry_htpasswd_stale"}
