from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods

from notes.forms import NoteForm
from notes.models import Note
from notes.tasks import enqueue_count_words

# Anonymous landing pages may sit in the proxy's micro-cache this long (seconds).
LANDING_MAX_AGE = 10


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    """Public page that reads the database: also the health path, so it fails when the DB does."""
    response = render(request, "notes/landing.html", {"note_count": Note.objects.count()})
    if not request.user.is_authenticated:
        patch_cache_control(response, public=True, max_age=LANDING_MAX_AGE)
    patch_vary_headers(response, ["Cookie"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def note_list(request: HttpRequest) -> HttpResponse:
    form = NoteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        note = form.save(commit=False)
        note.owner = request.user
        note.save()
        transaction.on_commit(lambda: enqueue_count_words(note.pk))
        return redirect("note_list")
    notes = Note.objects.filter(owner=request.user)
    return render(request, "notes/list.html", {"notes": notes, "form": form})


def _own_note(request: HttpRequest, pk: int) -> Note:
    return get_object_or_404(Note, pk=pk, owner=request.user)


@login_required
@require_GET
def note_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "notes/detail.html", {"note": _own_note(request, pk)})


@login_required
@require_GET
def note_json(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_own_note(request, pk).as_json())
