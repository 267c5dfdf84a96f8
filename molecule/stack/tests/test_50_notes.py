"""A second app by inventory alone: apps/notes (Django + Celery, no /health, no /metrics, its own
session cookie, a dependency that ships only as an sdist) replaces docshare on the same hosts.

The scenario's inventory (the lab's group_vars) with notes' overlay as a second inventory source
(-i apps/notes/lab: its group_vars override the lab's), nothing copied or edited: site.yml retires docshare's units and switch, builds notes (docopt from its
sdist), migrates its PostgreSQL database, publishes its hashed static files to nginx and runs its
Celery worker; its French catalogue, compiled at build time, reaches the running container. Then a user
logs in through nginx and the worker processes a note.
"""
from __future__ import annotations

import re
import secrets
import time

import pytest
import requests
from conftest import CA, PROJECT, Browser, host
from playbook import run_playbook  # molecule/_shared/playbook.py

# After every other module (conftest.py, "test order"): docshare is gone from the hosts once notes runs, and
# putting it back would cost a site.yml run (minutes) that only the order would need.
ORDER = "last"

APP_HOSTS = ["stack-app1", "stack-app2"]


# The documented way to bring an app to an inventory (README, "Your own app"): a second inventory source whose
# group_vars are laid over the first's; no file of the lab or of the scenario is copied or edited.
OVERLAY = PROJECT / "apps" / "notes" / "lab"


def run(playbook: str, **extra) -> tuple[int, str]:
    proc = run_playbook(PROJECT / "playbooks" / playbook, extra or None, args=["-i", str(OVERLAY)], timeout=1800)
    return proc.returncode, proc.stdout


@pytest.fixture(scope="module")
def notes_deployed(measure) -> str:
    start = time.monotonic()
    code, out = run("site.yml")
    assert code == 0, out[-6000:]
    measure(f"notes deployed by inventory alone with site.yml in {time.monotonic() - start:.0f} s")
    return out


def test_docshare_was_retired_and_notes_runs(notes_deployed):
    for name in APP_HOSTS:
        h = host(name)
        running = h.check_output("docker ps --format '{{.Names}}'").split()
        assert not [c for c in running if c.startswith("docshare-")], running
        assert "notes-worker" in running and any(c.startswith("notes-web-") for c in running), running
        assert not h.file("/etc/nginx/conf.d/docshare-switch.conf").exists
        assert not h.file("/etc/docshare").exists, "the retired app's env file (secrets) must go"


def test_pages_and_hashed_static_files_through_nginx(notes_deployed, site, web):
    page = web.get(site + "/", timeout=10)
    assert page.status_code == 200 and page.headers.get("X-Notes-Release"), page.headers
    assets = sorted(set(re.findall(r'(/static/notes/[^"\']+)', page.text)))
    assert assets and all(re.search(r"\.[0-9a-f]{12}\.(css|js)$", a) for a in assets), assets
    for asset in assets:
        response = web.get(site + asset, timeout=10)
        assert response.status_code == 200 and "immutable" in response.headers["Cache-Control"], (asset, response.headers)


def test_translations_compiled_at_build_time_reach_the_running_container(notes_deployed, site, web):
    """app_build_command (compilemessages) writes django.mo beside its .po in the builder; the runtime takes /app
    from there: the French page comes through nginx, and the .mo exists in the container, not in the source."""
    assert not list((PROJECT / "apps" / "notes").rglob("*.mo")), "a compiled catalogue in the source tree proves nothing"
    french = web.get(site + "/", headers={"Accept-Language": "fr"}, timeout=10)
    english = web.get(site + "/", headers={"Accept-Language": "en"}, timeout=10)
    assert french.status_code == 200 and "Un petit carnet." in french.text, french.text[:600]
    assert english.status_code == 200 and "A small notebook." in english.text, english.text[:600]
    app1 = host("stack-app1")
    slot = app1.file("/var/lib/notes/active-slot").content_string.strip()
    assert app1.run("docker exec notes-web-%s test -s /app/notes/locale/fr/LC_MESSAGES/django.mo", slot).rc == 0


def test_login_round_trip_and_the_worker_processes_a_note(notes_deployed, site, measure):
    password = secrets.token_urlsafe(18)
    app1 = host("stack-app1")
    slot = app1.file("/var/lib/notes/active-slot").content_string.strip()
    image = app1.check_output("docker inspect --format '{{.Config.Image}}' notes-web-%s", slot)
    created = app1.run("docker run --rm --network host --env-file /etc/notes/app.env -e NOTES_BOOTSTRAP_PASSWORD=%s %s "
                       "python manage.py ensure_user tester", password, image)
    assert created.rc == 0, created.stderr
    browser = Browser()
    login = browser.get(f"{site}/accounts/login/", timeout=10)
    assert login.status_code == 200 and "notes_csrftoken" in browser.cookies
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    wrong = browser.post(f"{site}/accounts/login/", data={"username": "tester", "password": "wrong", "csrfmiddlewaretoken": token},
                         headers={"Referer": f"{site}/accounts/login/"}, allow_redirects=False, timeout=10)
    assert wrong.status_code == 200 and "notes_session" not in browser.cookies
    ok = browser.post(f"{site}/accounts/login/", data={"username": "tester", "password": password, "csrfmiddlewaretoken": token},
                      headers={"Referer": f"{site}/accounts/login/"}, allow_redirects=False, timeout=10)
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/notes/"), (ok.status_code, ok.text[:500])
    assert "notes_session" in browser.cookies
    mine = browser.get(f"{site}/notes/", timeout=10)
    assert mine.status_code == 200 and "tester" in mine.text
    assert mine.headers.get("X-Cache-Status") in (None, "BYPASS"), "a logged-in page must never come from the cache"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', mine.text).group(1)
    created = browser.post(f"{site}/notes/", data={"title": "stack", "body": "one two three four", "csrfmiddlewaretoken": token},
                           headers={"Referer": f"{site}/notes/"}, allow_redirects=False, timeout=10)
    assert created.status_code == 302, created.text[:500]
    listing = browser.get(f"{site}/notes/", timeout=10).text
    note = max(int(n) for n in re.findall(r'href="/notes/(\d+)/"', listing))
    deadline = time.monotonic() + 60
    while True:
        data = browser.get(f"{site}/notes/{note}.json", timeout=10).json()
        if data["processed"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert data["processed"] and data["word_count"] == 4, data
    anonymous = requests.get(f"{site}/notes/{note}.json", verify=CA, allow_redirects=False, timeout=10)
    assert anonymous.status_code in (302, 403), "anonymous users must not read a note"
    measure(f"notes: login through nginx, note {note} counted by the Celery worker ({data['word_count']} words)")


def test_migrations_in_postgresql(notes_deployed):
    out = host("stack-db1").check_output("runuser -u postgres -- psql -XAt -d notes -c \"SELECT count(*) FROM django_migrations WHERE app = 'notes'\"")
    assert int(out) >= 1
    tables = host("stack-db1").check_output("runuser -u postgres -- psql -XAt -d notes -c '\\dt'")
    assert "notes_note" in tables and "auth_user" in tables, tables
