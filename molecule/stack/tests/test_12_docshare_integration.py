"""docshare's integration tests (apps/docshare/tests/test_docshare_integration.py), which `make unit` cannot run
(no PostgreSQL or Redis there), run here against the stack's real services, from an app host, in a container of
the running release's image: the app's own PostgreSQL role and database (in a scratch schema, so the tests'
DROP TABLE never meets the app's tables) and its own Redis user (in db 15, which the tests flush).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from urllib.parse import quote, urlsplit

from conftest import PROJECT, host

APP = "stack-app1"
DB = "stack-db1"
SCHEMA = "it_scratch"


def test_docshare_integration_tests_pass_against_the_stack(tmp_path, measure):
    app = host(APP)
    env = dict(line.split("=", 1) for line in app.check_output("cat /etc/docshare/app.env").splitlines() if "=" in line)
    database_url, redis_url = env["DOCSHARE_DATABASE_URL"], env["DOCSHARE_REDIS_URL"]
    db_name, owner = database_url.rsplit("/", 1)[1], re.match(r"postgresql://([^:]+):", database_url).group(1)
    host(DB).check_output("runuser -u postgres -- psql -v ON_ERROR_STOP=1 -d %s -c %s", db_name,
                          f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA} AUTHORIZATION {owner}")
    def app_rows() -> str:
        return host(DB).check_output("runuser -u postgres -- psql -tA -d %s -c %s", db_name, "SELECT count(*), max(id) FROM public.documents")

    rows_before = app_rows()
    image = app.check_output("docker ps --filter name=web --format '{{.Image}}'").split()[0]
    app.check_output("rm -rf /root/it && mkdir -p /root/it")
    # The runtime image has no pip (by design): pytest comes as a pure-Python folder installed here and mounted,
    # shipped with the tests as one archive.
    lib = tmp_path / "lib"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--target", str(lib), "pytest"], check=True)
    archive = tmp_path / "it.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(PROJECT / "apps" / "docshare" / "tests", "tests", filter=lambda i: None if "__pycache__" in i.name else i)
        tar.add(lib, "lib", filter=lambda i: None if "__pycache__" in i.name else i)
        # This checkout's docshare (the tests' conftest puts the folder above tests/ first on sys.path);
        # the release image gives Python and the dependencies.
        tar.add(PROJECT / "apps" / "docshare" / "docshare", "docshare", filter=lambda i: None if "__pycache__" in i.name else i)
    app.ansible("copy", f"src={archive} dest=/root/it/it.tar.gz", check=False)
    app.check_output("tar -xzf /root/it/it.tar.gz -C /root/it")
    test_env = {
        "DOCSHARE_TEST_DATABASE_URL": f"{database_url}?options={quote(f'-csearch_path={SCHEMA}')}",
        "DOCSHARE_TEST_REDIS_URL": re.sub(r"/\d+$", "/15", redis_url),
        "PYTHONPATH": "/it/lib",
    }
    env_file = "/root/it/env"
    app.check_output("install -m 0600 /dev/null %s", env_file)
    app.check_output("printf '%%s\\n' %s > %s", "\n".join(f"{k}={v}" for k, v in test_env.items()), env_file)
    script = "cd /it && python -m pytest -q -p no:cacheprovider -rs tests/test_docshare_integration.py"
    try:
        # The URLs carry passwords: through a root-only file read by the app role's env-exec, as the app's own containers.
        run = app.run("docker run --rm --network host --user root -v %s:/run/it.env:ro -v /usr/local/lib/bundle-app/env-exec:/run/env-exec:ro "
                      "-v /root/it/tests:/it/tests:ro -v /root/it/lib:/it/lib:ro -v /root/it/docshare:/it/docshare:ro --entrypoint python3 %s /run/env-exec /run/it.env /bin/sh -c %s",
                      env_file, image, script)
    finally:
        app.run("rm -rf /root/it")
        host(DB).run("runuser -u postgres -- psql -d %s -c %s", db_name, f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    out = run.stdout + run.stderr
    for secret in filter(None, (urlsplit(database_url).password, urlsplit(redis_url).password)):
        out = out.replace(secret, "***").replace(quote(secret, safe=""), "***")
    assert run.rc == 0, out[-4000:]
    assert app_rows() == rows_before, "the integration tests wrote to the app's own tables, not to the scratch schema"
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\b2 passed\b", summary) and "skipped" not in summary, out[-2000:]
    measure(f"docshare integration tests in the release image on {APP} against the stack's PostgreSQL and Redis: {summary}")
