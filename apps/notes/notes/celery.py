"""The Celery application (``celery -A notes worker``); configured from Django's settings."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes.settings")

app = Celery("notes")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
