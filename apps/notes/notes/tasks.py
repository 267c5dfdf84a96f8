"""Celery tasks and how the web side queues them."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from notes.models import Note

log = logging.getLogger(__name__)


def count_words_in(text: str) -> int:
    return len(text.split())


@shared_task
def count_words(note_id: int) -> int | None:
    """Store the word count of a note and mark it processed; safe to run twice."""
    note = Note.objects.filter(pk=note_id).first()
    if note is None:
        return None
    note.word_count = count_words_in(note.body)
    note.processed_at = timezone.now()
    note.save(update_fields=["word_count", "processed_at"])
    return note.word_count


def enqueue_count_words(note_id: int) -> bool:
    """Queue the task; a broker failure is logged, not raised (the note stays unprocessed)."""
    try:
        count_words.delay(note_id)
    except Exception:  # kombu raises several types for a dead or refusing broker
        log.exception("could not queue count_words for note %s", note_id)
        return False
    return True
