"""Settings for the unit tests: notes.settings with SQLite, eager Celery and no Redis."""

from __future__ import annotations

import os
from unittest import mock

TEST_ENV = {
    "NOTES_DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",
    "NOTES_REDIS_URL": "redis://unused@127.0.0.1:1/0",
    "NOTES_SECRET_KEY": "unit-tests-only",
    "NOTES_ALLOWED_HOSTS": "testserver",
    "NOTES_RELEASE": "test-release",
}

# The real settings module, read from a fixed environment (the developer's NOTES_* do not leak in).
with mock.patch.dict(os.environ, TEST_ENV):
    from notes.settings import *  # noqa: F403

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Manifest storage needs collectstatic first; the test that checks hashed names switches it on.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
LOGGING = {"version": 1, "disable_existing_loggers": False}
