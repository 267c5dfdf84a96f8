"""PostgreSQL role, tested from the app-client host over the network.

The db host is only used to restart the service, inspect files and run the role's
entry points (snapshot, restore, list, prune) through entrypoints.yml.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import testinfra
from playbook import run_entrypoint, run_playbook
from snapshots import assert_meta, assert_sealed_id_unchanged, assert_single_file

testinfra_hosts = ["postgres-app"]

DB_HOST = "postgres-db"
APP_PASSWORD = "molecule-app-password-0123"  # same as converge.yml (lab-only secret)
SCENARIO = Path(__file__).resolve().parent.parent
SNAP_ROOT = "/var/backups/bundle/postgres"
RELEASE = "snap-20261201T104400Z"
ADMIN = "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s"


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


def entrypoint(entry: str, **extra: object):
    """Run one of the role's entry points on the db host (as a deploy playbook would); (process, facts)."""
    return run_entrypoint(SCENARIO, f"{entry}.yml", extra)


def databases(db) -> list[str]:
    return db.run("runuser -u postgres -- psql -XAtc 'SELECT datname FROM pg_database ORDER BY 1'").stdout.split()


def assert_restore_refused(host, db, snapshot_id: str, *messages: str) -> str:
    """The restore fails saying `messages`, and the orders table and the list of databases stay as they were."""
    expected, dbs = _table(host, "orders"), databases(db)
    run, _ = entrypoint("restore", postgres_snapshot_id=snapshot_id)
    assert run.returncode != 0
    for message in messages:
        assert message in run.stdout
    assert _table(host, "orders") == expected
    assert databases(db) == dbs
    return run.stdout


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


def _count(client, name: str) -> int:
    return int(psql(client, f"SELECT count(*) FROM {name}").stdout)


def test_snapshot_meta_json_follows_the_schema(host, db):
    psql(host, "DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int PRIMARY KEY, amount int)")
    psql(host, "INSERT INTO orders SELECT g, g * 10 FROM generate_series(1, 50) g")
    expected = {f"public.{t}": _count(host, t) for t in ("items", "orders", "durable")}

    run, facts = entrypoint("snapshot", postgres_snapshot_id=RELEASE, postgres_snapshot_release=RELEASE)
    assert run.returncode == 0, run.stdout[-3000:]
    meta = json.loads(db.file(f"{SNAP_ROOT}/{RELEASE}/meta.json").content_string)
    assert facts["postgres_snapshot"] == meta
    assert_meta(meta, service="postgres", snapshot_id=RELEASE, release=RELEASE, host=DB_HOST, tool="pg_dump")
    assert_single_file(meta, "app.dump", db.file(f"{SNAP_ROOT}/{RELEASE}/app.dump"))
    # Row counts of every table, equal to the data at snapshot time.
    assert meta["checks"] == {"database": "app", "tables": expected, "rows": sum(expected.values())}
    assert meta["tool"]["version"].startswith("15.")
    assert sorted(db.check_output(f"ls -A {SNAP_ROOT}/{RELEASE}").split()) == ["app.dump", "meta.json"]


def test_snapshot_of_a_sealed_id_changes_nothing(db):
    assert_sealed_id_unchanged(SCENARIO, db, DB_HOST, SNAP_ROOT, "postgres", RELEASE)


def test_restore_brings_the_data_back_and_keeps_the_replaced_database(host, db):
    before = {"orders": _table(host, "orders"), "items": _table(host, "items")}
    psql(host, "INSERT INTO orders SELECT g, 0 FROM generate_series(51, 80) g")
    psql(host, "DROP TABLE items")

    run, facts = entrypoint("restore", postgres_snapshot_id=RELEASE)
    assert run.returncode == 0, run.stdout[-3000:]
    assert _table(host, "orders") == before["orders"]
    assert _table(host, "items") == before["items"]
    restored = facts["postgres_restored"]
    assert restored["id"] == RELEASE and restored["checks"]["tables"]["public.orders"] == 50
    # The replaced database is where the result says, with the changes made after the snapshot, closed to connections.
    replaced = restored["replaced"]
    assert replaced.startswith("app__replaced_") and len(replaced) == len("app__replaced_") + 14
    assert replaced in databases(db)
    allow = db.check_output(f"runuser -u postgres -- psql -XAtc \"SELECT datallowconn FROM pg_database WHERE datname = '{replaced}'\"")
    assert allow == "f"
    db.run_expect([0], "runuser -u postgres -- psql -XAtqc %s", f'ALTER DATABASE "{replaced}" ALLOW_CONNECTIONS true')
    assert db.check_output(ADMIN, replaced, "SELECT count(*) FROM orders") == "80"
    assert db.run(ADMIN, replaced, "SELECT 1 FROM items").rc != 0
    db.run_expect([0], "runuser -u postgres -- psql -XAtqc %s", f'ALTER DATABASE "{replaced}" ALLOW_CONNECTIONS false')
    assert "app__restore" not in databases(db)


def test_checks_are_consistent_with_the_dump_under_concurrent_writes(host, db):
    # A writer commits rows while the snapshot runs; the counts must be those of the dump (same MVCC snapshot),
    # which the restore checks: it fails when the restored rows differ from the recorded ones.
    psql(host, "DROP TABLE IF EXISTS ticks; CREATE TABLE ticks (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
    writer = (f"PGPASSWORD={APP_PASSWORD} setsid nohup sh -c 'for i in $(seq 1 2000); do psql -h {DB_HOST} -U app -d app -XAtq "
              "-c \"INSERT INTO ticks DEFAULT VALUES\" || exit 0; done' >/dev/null 2>&1 & echo $!")
    pid = host.check_output(writer)
    try:
        time.sleep(2)
        run, facts = entrypoint("snapshot", postgres_snapshot_id="concurrent")
        assert run.returncode == 0, run.stdout[-3000:]
        time.sleep(1)
    finally:
        host.run(f"kill {pid}; sleep 1")
    taken = facts["postgres_snapshot"]["checks"]["tables"]["public.ticks"]
    assert 0 < taken < _count(host, "ticks"), "the writer did not run during the snapshot"
    run, facts = entrypoint("restore", postgres_snapshot_id="concurrent")
    assert run.returncode == 0, run.stdout[-3000:]
    assert _count(host, "ticks") == taken


def test_restore_fails_before_the_swap_when_rows_differ_from_the_checks(host, db):
    run, _ = entrypoint("snapshot", postgres_snapshot_id="wrong-checks")
    assert run.returncode == 0, run.stdout[-3000:]
    # meta.json is not covered by its own checksums: record one row too many, as a wrong count would.
    db.run_expect([0], "python3 -c %s", f"import json; p='{SNAP_ROOT}/wrong-checks/meta.json'; m=json.load(open(p)); "
                                        "m['checks']['tables']['public.orders'] += 1; json.dump(m, open(p, 'w'))")
    psql(host, "INSERT INTO orders VALUES (5000, 1)")
    assert_restore_refused(host, db, "wrong-checks",
                           "Row counts differ from snapshot wrong-checks's checks: public.orders: 50 rows, the snapshot recorded 51",
                           "app was not touched and stays in use")


def test_failed_restore_leaves_the_database_intact(host, db):
    # A dump whose restore fails inside the new database: a table owned by a role that is gone by then.
    db.run_expect([0], ADMIN, "app", "CREATE ROLE ghost NOLOGIN; CREATE TABLE ghost_t (x int); ALTER TABLE ghost_t OWNER TO ghost")
    run, _ = entrypoint("snapshot", postgres_snapshot_id="t-broken")
    assert run.returncode == 0, run.stdout[-3000:]
    db.run_expect([0], ADMIN, "app", "DROP TABLE ghost_t; DROP ROLE ghost")
    psql(host, "INSERT INTO orders VALUES (1000, 1)")
    assert_restore_refused(host, db, "t-broken", "Restoring snapshot t-broken failed; app was not touched and stays in use",
                           'role "ghost" does not exist')


def test_corrupted_snapshot_is_refused_before_anything_is_touched(host, db):
    run, _ = entrypoint("snapshot", postgres_snapshot_id="t-corrupt")
    assert run.returncode == 0, run.stdout[-3000:]
    db.run_expect([0], "python3 -c %s", f"p='{SNAP_ROOT}/t-corrupt/app.dump'; b=bytearray(open(p,'rb').read()); "
                                        "b[len(b)//2] ^= 1; open(p,'wb').write(b)")
    out = assert_restore_refused(
        host, db, "t-corrupt", "snapshot t-corrupt in /var/backups/bundle/postgres fails verification: app.dump does not match its sha256")
    assert "Restore | empty database to restore into" not in out


def test_list_and_prune_keep_newest_and_protected(db):
    for sid in ("p-1", "p-2", "p-3"):
        run, _ = entrypoint("snapshot", postgres_snapshot_id=sid)
        assert run.returncode == 0, run.stdout[-3000:]
    run, facts = entrypoint("snapshot_list")
    assert run.returncode == 0, run.stdout[-3000:]
    listed = [s["id"] for s in facts["postgres_snapshots"]]
    assert listed[:3] == ["p-3", "p-2", "p-1"] and set(listed) == {"p-1", "p-2", "p-3", RELEASE, "concurrent", "wrong-checks",
                                                                    "t-broken", "t-corrupt"}
    db.run_expect([0], f"mkdir {SNAP_ROOT}/interrupted-old {SNAP_ROOT}/interrupted-now && touch -d '3 days ago' {SNAP_ROOT}/interrupted-old")
    db.run_expect([0], "runuser -u postgres -- psql -XAtqc %s", 'CREATE DATABASE "app__replaced_20200101000000"')
    recent = [d for d in databases(db) if d.startswith("app__replaced_") and d != "app__replaced_20200101000000"]
    assert recent

    run, facts = entrypoint("snapshot_prune", postgres_snapshot_keep=1, postgres_snapshot_protected=[RELEASE, "p-1"])
    assert run.returncode == 0, run.stdout[-3000:]
    assert sorted(facts["postgres_snapshots_removed"]) == sorted(["p-2", "concurrent", "wrong-checks", "t-broken", "t-corrupt",
                                                                  "interrupted-old"])
    assert [s["id"] for s in facts["postgres_snapshots"]] == ["p-3", "p-1", RELEASE]
    assert sorted(db.run(f"ls {SNAP_ROOT}").stdout.split()) == sorted(["interrupted-now", "p-1", "p-3", RELEASE])
    # Replaced databases older than postgres_replaced_keep_days (7) are dropped; today's stay.
    left = databases(db)
    assert "app__replaced_20200101000000" not in left and set(recent) <= set(left)


def test_bad_snapshot_id_is_refused():
    run, _ = entrypoint("snapshot", postgres_snapshot_id="../etc")
    assert run.returncode != 0
    assert "postgres_snapshot_id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" in run.stdout


def test_config_validator_rejects_a_broken_file(db):
    live = "/etc/postgresql/15/main/postgresql.conf"
    assert db.run(f"/usr/local/sbin/postgres-check-config {live}").rc == 0
    broken = db.run(f"cp {live} /root/broken.conf && echo 'shared_buffers = lots' >> /root/broken.conf"
                    " && /usr/local/sbin/postgres-check-config /root/broken.conf")
    assert broken.rc != 0
    assert "shared_buffers" in broken.stderr


def test_short_password_fails_in_preflight_naming_the_variable(db):
    before = db.file("/etc/postgresql/15/main/pg_hba.conf").sha256sum
    run = run_playbook(SCENARIO / "converge.yml", {"postgres_db_password": "short"})
    assert run.returncode != 0
    assert "postgres_db_password must be set in inventory (vault) to a generated string of at least 16 characters" in run.stdout
    assert db.file("/etc/postgresql/15/main/pg_hba.conf").sha256sum == before


def test_preflight_runs_with_any_tag(db):
    run = run_playbook(SCENARIO / "converge.yml", {"postgres_listen_addresses": ["0.0.0.0"]}, args=["--tags", "postgres_run"])
    assert run.returncode != 0
    assert "postgres_listen_addresses=['0.0.0.0'] must be a non-empty list of IP addresses" in run.stdout
