"""Configuration: required variables, clear errors, and the build-only collectstatic mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from unittest import TestCase

from notes.config import REQUIRED, ConfigError, is_build_command, load

APP_ROOT = Path(__file__).resolve().parent.parent
GOOD_ENV = {
    "NOTES_DATABASE_URL": "postgresql://notes:p%40ss@db.internal:5433/notes",
    "NOTES_REDIS_URL": "redis://notes:secret@redis.internal:6379/0",
    "NOTES_SECRET_KEY": "k" * 50,
    "NOTES_ALLOWED_HOSTS": "notes.example.org, 127.0.0.1",
}


def run_manage(*args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a fresh process with no NOTES_* and no test settings in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTES_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=APP_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


class LoadTests(TestCase):
    def test_valid_environment(self) -> None:
        config = load({**GOOD_ENV, "NOTES_RELEASE": "r42", "NOTES_CSRF_TRUSTED_ORIGINS": "https://notes.example.org"})
        self.assertEqual(config.allowed_hosts, ["notes.example.org", "127.0.0.1"])
        self.assertEqual(config.csrf_trusted_origins, ["https://notes.example.org"])
        self.assertEqual(config.release, "r42")
        self.assertFalse(config.debug)
        self.assertEqual(config.static_root, "/app/static")
        db = config.database
        self.assertEqual(db["ENGINE"], "django.db.backends.postgresql")
        self.assertEqual((db["NAME"], db["USER"], db["PASSWORD"], db["HOST"], db["PORT"]),
                         ("notes", "notes", "p@ss", "db.internal", "5433"))

    def test_each_missing_variable_is_named(self) -> None:
        for name in REQUIRED:
            with self.subTest(name=name):
                env = {k: v for k, v in GOOD_ENV.items() if k != name}
                with self.assertRaises(ConfigError) as caught:
                    load(env)
                self.assertIn(f"{name} is not set", str(caught.exception))
                self.assertEqual(len(caught.exception.errors), 1)

    def test_allowed_hosts_has_no_default(self) -> None:
        with self.assertRaisesRegex(ConfigError, "NOTES_ALLOWED_HOSTS lists no host"):
            load({**GOOD_ENV, "NOTES_ALLOWED_HOSTS": " , "})

    def test_malformed_values(self) -> None:
        env = {
            **GOOD_ENV,
            "NOTES_DATABASE_URL": "mysql://u@h/db",
            "NOTES_REDIS_URL": "redis://",
            "NOTES_CSRF_TRUSTED_ORIGINS": "notes.example.org",
        }
        with self.assertRaises(ConfigError) as caught:
            load(env)
        message = str(caught.exception)
        self.assertIn("NOTES_DATABASE_URL must start with postgresql:// or postgres://", message)
        self.assertIn("NOTES_REDIS_URL has no host", message)
        self.assertIn("NOTES_CSRF_TRUSTED_ORIGINS entry 'notes.example.org'", message)

    def test_database_name_required(self) -> None:
        with self.assertRaisesRegex(ConfigError, "NOTES_DATABASE_URL has no database name"):
            load({**GOOD_ENV, "NOTES_DATABASE_URL": "postgresql://u:p@db:5432/"})

    def test_debug_only_with_one(self) -> None:
        self.assertTrue(load({**GOOD_ENV, "NOTES_DEBUG": "1"}).debug)
        self.assertFalse(load({**GOOD_ENV, "NOTES_DEBUG": "true"}).debug)

    def test_build_only_tolerates_an_empty_environment(self) -> None:
        config = load({}, build_only=True)
        self.assertEqual(config.database, {"ENGINE": "django.db.backends.dummy"})
        self.assertTrue(config.secret_key)

    def test_build_command_detection(self) -> None:
        self.assertTrue(is_build_command(["manage.py", "collectstatic", "--noinput"]))
        self.assertTrue(is_build_command(["/app/manage.py", "collectstatic"]))
        self.assertTrue(is_build_command(["manage.py", "compilemessages"]))
        self.assertFalse(is_build_command(["manage.py", "migrate"]))
        self.assertFalse(is_build_command(["/opt/venv/bin/gunicorn", "collectstatic"]))
        self.assertFalse(is_build_command(["celery", "-A", "notes", "worker"]))


class ProcessTests(TestCase):
    """The real settings module, as the image builder and the containers start it."""

    def test_runtime_command_without_environment_fails_naming_variables(self) -> None:
        result = run_manage("check")
        self.assertNotEqual(result.returncode, 0)
        for name in REQUIRED:
            self.assertIn(f"{name} is not set", result.stderr)

    def test_collectstatic_at_build_time_needs_no_environment(self) -> None:
        with tempfile.TemporaryDirectory() as static_root:
            result = run_manage("collectstatic", "--noinput", NOTES_STATIC_ROOT=static_root)
            self.assertEqual(result.returncode, 0, result.stderr)
            names = {p.name for p in Path(static_root, "notes").iterdir()}
            self.assertTrue(Path(static_root, "staticfiles.json").is_file())
        self.assertTrue(any(re.fullmatch(r"site\.[0-9a-f]{12}\.css", n) for n in names), names)
        self.assertTrue(any(re.fullmatch(r"site\.[0-9a-f]{12}\.js", n) for n in names), names)
