"""ensure_user, the docopt CLI, and collectstatic with the manifest storage."""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from unittest import mock

import docopt
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import TestCase, override_settings

from notes import cli
from notes.models import Note

MANIFEST_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}


def ensure_user(username: str, password: str | None) -> str:
    env = {} if password is None else {"NOTES_BOOTSTRAP_PASSWORD": password}
    out = io.StringIO()
    with mock.patch.dict(os.environ, env):
        if password is None:
            os.environ.pop("NOTES_BOOTSTRAP_PASSWORD", None)
        call_command("ensure_user", username, stdout=out)
    return out.getvalue().strip()


class EnsureUserTests(TestCase):
    def test_creates_then_updates(self) -> None:
        self.assertEqual(ensure_user("admin", "first-pass"), "created user admin")
        self.assertIsNotNone(authenticate(username="admin", password="first-pass"))
        self.assertEqual(ensure_user("admin", "second-pass"), "updated user admin")
        self.assertIsNone(authenticate(username="admin", password="first-pass"))
        self.assertIsNotNone(authenticate(username="admin", password="second-pass"))
        self.assertEqual(get_user_model().objects.count(), 1)

    def test_password_only_from_the_environment(self) -> None:
        with self.assertRaisesRegex(CommandError, "NOTES_BOOTSTRAP_PASSWORD is not set"):
            ensure_user("admin", None)
        self.assertFalse(get_user_model().objects.exists())
        with self.assertRaises(CommandError):  # no argument takes a password
            call_command("ensure_user", "admin", "--password", "x")


class CliTests(TestCase):
    def run_cli(self, *argv: str) -> str:
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(cli.main(list(argv)), 0)
        return out.getvalue()

    def test_stats_counts(self) -> None:
        user = get_user_model().objects.create_user("ann")
        Note.objects.create(owner=user, title="a", body="x", word_count=1, processed_at="2026-01-01T00:00:00Z")
        Note.objects.create(owner=user, title="b", body="y")
        self.assertEqual(self.run_cli("stats"), "users: 1\nnotes: 2\nprocessed: 1\npending: 1\n")
        self.assertEqual(json.loads(self.run_cli("stats", "--json")),
                         {"users": 1, "notes": 2, "processed": 1, "pending": 1})

    def test_usage_comes_from_docopt(self) -> None:
        self.assertEqual(docopt.__version__, "0.6.2")
        with self.assertRaises(docopt.DocoptExit) as caught:
            cli.main(["bogus"])
        self.assertIn("notes.cli stats [--json]", str(caught.exception))


class CollectstaticTests(TestCase):
    def test_manifest_names_are_hashed_and_used_in_pages(self) -> None:
        with tempfile.TemporaryDirectory() as static_root:
            with override_settings(STATIC_ROOT=static_root, STORAGES=MANIFEST_STORAGES):
                call_command("collectstatic", interactive=False, verbosity=0)
                manifest = json.loads(Path(static_root, "staticfiles.json").read_text())["paths"]
                html = self.client.get("/").content.decode()
                for source in ("notes/site.css", "notes/site.js"):
                    hashed = manifest[source]
                    self.assertRegex(hashed, r"^notes/site\.[0-9a-f]{12}\.(css|js)$")
                    self.assertTrue(Path(static_root, hashed).is_file())
                    self.assertIn(f"/static/{hashed}", html)
        self.assertIsNone(re.search(r'/static/notes/site\.(css|js)"', html))
