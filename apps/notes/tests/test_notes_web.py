"""Pages, login, cookies, caching headers, note creation and ownership."""

from __future__ import annotations

from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client, TestCase
from kombu.exceptions import OperationalError

from notes import tasks
from notes.models import Note

PASSWORD = "correct horse battery staple"


def make_user(username: str) -> AbstractBaseUser:
    return get_user_model().objects.create_user(username=username, password=PASSWORD)


class LandingTests(TestCase):
    def test_renders_count_and_release(self) -> None:
        Note.objects.create(owner=make_user("ann"), title="one", body="a b")
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["X-Notes-Release"], "test-release")
        self.assertContains(response, '<strong class="note-count">1</strong>', html=False)
        self.assertContains(response, '<span class="release">test-release</span>', html=False)

    def test_anonymous_landing_is_publicly_cacheable(self) -> None:
        response = self.client.get("/")
        self.assertEqual(response["Cache-Control"], "public, max-age=10")
        self.assertIn("Cookie", response["Vary"])
        self.assertEqual(response.cookies, {})  # nothing that would stop a shared cache

    def test_logged_in_pages_are_private(self) -> None:
        self.client.force_login(make_user("ann"))
        for path in ("/", "/notes/"):
            with self.subTest(path=path):
                response = self.client.get(path)
                self.assertEqual(response.status_code, 200)
                self.assertEqual(set(response["Cache-Control"].split(", ")), {"private", "no-store"})

    def test_release_header_on_errors_too(self) -> None:
        response = self.client.get("/no-such-page/")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(response["X-Notes-Release"], "test-release")


class LoginTests(TestCase):
    def setUp(self) -> None:
        make_user("ann")
        self.client = Client(enforce_csrf_checks=True)

    def login(self, password: str) -> Any:
        page = self.client.get("/accounts/login/")
        self.assertIn("notes_csrftoken", page.cookies)
        token = page.context["csrf_token"]
        return self.client.post(
            "/accounts/login/", {"username": "ann", "password": password, "csrfmiddlewaretoken": token}
        )

    def test_wrong_password_is_refused(self) -> None:
        response = self.login("wrong")
        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Wrong user name or password")
        self.assertNotIn("notes_session", response.cookies)
        self.assertEqual(self.client.get("/notes/").status_code, 302)

    def test_right_password_lands_on_notes(self) -> None:
        response = self.login(PASSWORD)
        self.assertRedirects(response, "/notes/", fetch_redirect_response=False)
        cookie = response.cookies["notes_session"]
        self.assertTrue(cookie["httponly"])
        self.assertTrue(cookie["secure"])
        self.assertNotIn("sessionid", response.cookies)
        self.assertContains(self.client.get("/notes/"), "My notes")

    def test_logout_is_a_post(self) -> None:
        self.login(PASSWORD)
        self.assertEqual(self.client.get("/accounts/logout/").status_code, 405)
        token = self.client.cookies["notes_csrftoken"].value
        response = self.client.post("/accounts/logout/", HTTP_X_CSRFTOKEN=token)
        self.assertRedirects(response, "/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/notes/").status_code, 302)


class NoteTests(TestCase):
    def setUp(self) -> None:
        self.ann = make_user("ann")
        self.client.force_login(self.ann)

    def add_note(self, body: str) -> Any:
        with self.captureOnCommitCallbacks(execute=True):
            return self.client.post("/notes/", {"title": "Shopping", "body": body})

    def test_anonymous_is_sent_to_login(self) -> None:
        self.client.logout()
        response = self.client.get("/notes/")
        self.assertRedirects(response, "/accounts/login/?next=/notes/", fetch_redirect_response=False)

    def test_creating_a_note_queues_the_word_count(self) -> None:
        with mock.patch.object(tasks.count_words, "delay", wraps=tasks.count_words.delay) as delay:
            response = self.add_note("milk eggs  bread\nbutter")
        self.assertRedirects(response, "/notes/", fetch_redirect_response=False)
        note = Note.objects.get()
        delay.assert_called_once_with(note.pk)
        self.assertEqual(note.owner, self.ann)
        self.assertEqual(note.word_count, 4)
        self.assertIsNotNone(note.processed_at)
        self.assertContains(self.client.get(f"/notes/{note.pk}/"), "4 words")

    def test_note_is_kept_when_the_broker_is_down(self) -> None:
        with mock.patch.object(tasks.count_words, "delay", side_effect=OperationalError("refused")):
            with self.assertLogs("notes.tasks", "ERROR"):
                response = self.add_note("a b c")
        self.assertEqual(response.status_code, 302)
        note = Note.objects.get()
        self.assertFalse(note.processed)
        self.assertContains(self.client.get(f"/notes/{note.pk}/"), "Not processed yet")

    def test_invalid_form_is_shown_again(self) -> None:
        response = self.client.post("/notes/", {"title": "", "body": "x"})
        self.assertEqual(response.status_code, 200)
        self.assertFalse(Note.objects.exists())

    def test_post_without_csrf_token_is_forbidden(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.ann)
        self.assertEqual(client.post("/notes/", {"title": "t", "body": "b"}).status_code, 403)

    def test_json_for_the_owner(self) -> None:
        self.add_note("one two three")
        note = Note.objects.get()
        data = self.client.get(f"/notes/{note.pk}.json").json()
        self.assertEqual(set(data), {"id", "title", "word_count", "processed", "processed_at"})
        self.assertEqual((data["id"], data["title"], data["word_count"], data["processed"]),
                         (note.pk, "Shopping", 3, True))
        self.assertEqual(data["processed_at"], note.processed_at.isoformat())

    def test_other_users_cannot_read_a_note(self) -> None:
        note = Note.objects.create(owner=self.ann, title="private", body="secret")
        self.client.force_login(make_user("bob"))
        self.assertEqual(self.client.get(f"/notes/{note.pk}.json").status_code, 404)
        self.assertEqual(self.client.get(f"/notes/{note.pk}/").status_code, 404)
        self.assertNotContains(self.client.get("/notes/"), "private")

    def test_task_is_idempotent_and_ignores_deleted_notes(self) -> None:
        note = Note.objects.create(owner=self.ann, title="t", body="x y")
        self.assertEqual(tasks.count_words(note.pk), 2)
        self.assertEqual(tasks.count_words(note.pk), 2)
        note.delete()
        self.assertIsNone(tasks.count_words(note.pk))
