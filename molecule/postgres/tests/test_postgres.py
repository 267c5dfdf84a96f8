"""PostgreSQL role, tested from the app-client host over the network.

The db host is only used to restart the service, inspect files and run the role's
entry points (snapshot, restore, list, prune) through entrypoint.yml.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import testinfra

testinfra_hosts = ["postgres-app"]

DB_HOST = "postgres-db"
APP_PASSWORD = "molecule-app-password-0123"  # same as converge.yml (lab-only secret)
SCENARIO = Path(__file__).resolve().parent.parent
SNAP_ROOT = "/var/backups/bundle/postgres"


def _other(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def db():
    return _other("postgres-db")


@pytest.fixture(scope="module")
def outsider():
    return _other("postgres-outsider")


def psql(client, sql: str, password: str = APP_PASSWORD, check: bool = True):
    """Run SQL as the app role from `client` over TCP; returns the command result."""
    cmd = client.run(
        "PGPASSWORD=%s PGCONNECT_TIMEOUT=10 psql -h %s -U app -d app -XAtq -v ON_ERROR_STOP=1 -c %s",
        password, DB_HOST, sql,
    )
    if check:
        assert cmd.rc == 0, cmd.stderr
    return cmd


def entrypoint(entry: str, **extra: object) -> subprocess.CompletedProcess[str]:
    """Run one of the role's entry points on the db host (as a deploy playbook would)."""
    args = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "entrypoint.yml"),
            "-e", json.dumps({"postgres_entry": entry, **extra})]
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=900)


def test_app_role_creates_tables_and_writes(host):
    psql(host, "DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY, note text)")
    psql(host, "INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    assert psql(host, "SELECT count(*) FROM items").stdout.strip() == "2"


def test_connection_uses_scram(db):
    cmd = db.run("runuser -u postgres -- psql -XAtc \"SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'app'\"")
    assert cmd.stdout.strip() == "SCRAM-SHA-256$"


def test_outsider_is_refused(outsider):
    cmd = psql(outsider, "SELECT 1", check=False)
    assert cmd.rc != 0
    assert "pg_hba.conf rejects connection" in cmd.stderr


def test_wrong_password_is_refused(host):
    cmd = psql(host, "SELECT 1", password="not-the-password-at-all", check=False)
    assert cmd.rc != 0
    assert "password authentication failed" in cmd.stderr


def test_listens_on_private_address_and_loopback_only(db):
    sockets = db.run("ss -Hltn 'sport = :5432'").stdout
    assert "127.0.0.1:5432" in sockets
    assert "0.0.0.0:5432" not in sockets and "*:5432" not in sockets and "[::]:5432" not in sockets


def test_data_survives_restart(host, db):
    psql(host, "CREATE TABLE IF NOT EXISTS durable (v text); INSERT INTO durable VALUES ('kept')")
    db.run_expect([0], "systemctl restart postgresql@15-main")
    assert "kept" in psql(host, "SELECT v FROM durable").stdout


def test_exporter_reports_up(host, db):
    # After a server restart (test above) the exporter's first scrape only drops its stale
    # connection; Prometheus scrapes again, so does this test (up to 5 times, 3 s apart).
    scrape = (
        "for i in 1 2 3 4 5; do python3 -c \"import urllib.request; "
        "print(urllib.request.urlopen('http://%s:9187/metrics', timeout=10).read().decode())\" "
        "| grep -qx 'pg_up 1' && exit 0; sleep 3; done; exit 1"
    )
    assert host.run(scrape, DB_HOST).rc == 0, "no 'pg_up 1' from http://postgres-db:9187/metrics"
    env_file = db.file("/etc/default/prometheus-postgres-exporter")
    assert env_file.mode == 0o600 and env_file.user == "root"


def _table(client, name: str) -> str:
    return psql(client, f"SELECT * FROM {name} ORDER BY 1").stdout


def test_snapshot_then_restore_brings_back_the_data(host, db):
    psql(host, "DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int PRIMARY KEY, amount int)")
    psql(host, "INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 50) g")
    before = {"orders": _table(host, "orders"), "items": _table(host, "items")}

    run = entrypoint("snapshot", postgres_snapshot_id="t-1")
    assert run.returncode == 0, run.stdout[-3000:]
    meta = json.loads(db.file(f"{SNAP_ROOT}/t-1/meta.json").content_string)
    assert meta["id"] == "t-1" and meta["size"] > 0 and meta["checksum"].startswith("sha256:")
    assert db.run(f"cd {SNAP_ROOT}/t-1 && sha256sum --check app.dump.sha256").rc == 0

    psql(host, "INSERT INTO orders SELECT g, 0 FROM generate_series(51, 80) g")
    psql(host, "DROP TABLE items")

    run = entrypoint("restore", postgres_snapshot_id="t-1")
    assert run.returncode == 0, run.stdout[-3000:]
    assert _table(host, "orders") == before["orders"]
    assert _table(host, "items") == before["items"]
    dbs = db.run("runuser -u postgres -- psql -XAtc 'SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1'").stdout.split()
    assert "app" in dbs and not [d for d in dbs if d.startswith("app__")]


def test_failed_restore_leaves_the_database_intact(host, db):
    # A dump whose restore fails inside the new database: a table owned by a role that is gone by then.
    admin = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d app -c %s"
    db.run_expect([0], admin, "CREATE ROLE ghost NOLOGIN; CREATE TABLE ghost_t (x int); ALTER TABLE ghost_t OWNER TO ghost")
    run = entrypoint("snapshot", postgres_snapshot_id="t-broken")
    assert run.returncode == 0, run.stdout[-3000:]
    db.run_expect([0], admin, "DROP TABLE ghost_t; DROP ROLE ghost")
    psql(host, "INSERT INTO orders VALUES (1000, 1)")
    expected = _table(host, "orders")

    run = entrypoint("restore", postgres_snapshot_id="t-broken")
    assert run.returncode != 0
    assert "was not touched" in run.stdout + run.stderr
    assert _table(host, "orders") == expected
    leftovers = db.run("runuser -u postgres -- psql -XAtc \"SELECT datname FROM pg_database WHERE datname LIKE 'app\\_\\_%%'\"")
    assert leftovers.stdout.strip() == ""


def test_damaged_snapshot_is_refused(host, db):
    db.run_expect([0], f"cp -a {SNAP_ROOT}/t-1 {SNAP_ROOT}/t-damaged && echo junk >> {SNAP_ROOT}/t-damaged/app.dump")
    expected = _table(host, "orders")
    run = entrypoint("restore", postgres_snapshot_id="t-damaged")
    assert run.returncode != 0
    assert _table(host, "orders") == expected


def test_list_and_prune_keep_newest_and_protected(db):
    for sid in ("p-1", "p-2", "p-3"):
        run = entrypoint("snapshot", postgres_snapshot_id=sid)
        assert run.returncode == 0, run.stdout[-3000:]
    run = entrypoint("snapshot_list")
    assert run.returncode == 0, run.stdout[-3000:]
    for sid in ("t-1", "p-1", "p-2", "p-3"):
        assert sid in run.stdout
    run = entrypoint("snapshot_prune", postgres_snapshot_keep=1, postgres_snapshot_protected=["t-1"])
    assert run.returncode == 0, run.stdout[-3000:]
    left = set(db.run(f"ls {SNAP_ROOT}").stdout.split())
    assert {"t-1", "p-3"} <= left
    assert not {"p-1", "p-2", "t-broken", "t-damaged"} & left


def test_bad_snapshot_id_is_refused():
    run = entrypoint("snapshot", postgres_snapshot_id="../etc")
    assert run.returncode != 0
    assert "postgres_snapshot_id" in run.stdout + run.stderr


def test_config_validator_rejects_a_broken_file(db):
    live = "/etc/postgresql/15/main/postgresql.conf"
    assert db.run(f"/usr/local/sbin/postgres-check-config {live}").rc == 0
    broken = db.run(f"cp {live} /root/broken.conf && echo 'shared_buffers = lots' >> /root/broken.conf"
                    " && /usr/local/sbin/postgres-check-config /root/broken.conf")
    assert broken.rc != 0
    assert "shared_buffers" in broken.stderr
