"""notes: a small Django + Celery app that the bundle deploys by inventory variables alone."""

from notes.celery import app as celery_app

__all__ = ["celery_app"]
