"""Redis, tested from the client host over the scenario network."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
from playbook import playbook_env, run_entrypoint, run_playbook
from snapshots import assert_meta, assert_sealed_id_unchanged, assert_single_file

SCENARIO = Path(__file__).resolve().parents[1]
APP = "--user app --pass scenario-app-password-0001 --no-auth-warning"
ADMIN_PASSWORD = "scenario-admin-password-0001"
ADMIN = f"--user admin --pass {ADMIN_PASSWORD} --no-auth-warning"
ROOT = "/var/backups/bundle/redis"
RELEASE = "src-3f2a9c1b2d4e"


# Tests take the hosts they need by name (not testinfra's per-host `host`), so each runs once.
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])


@pytest.fixture(scope="module")
def client():
    return RUNNER.get_host("redis-client")


@pytest.fixture(scope="module")
def server():
    return RUNNER.get_host("redis-server")


def cli(client, args: str, command: str) -> str:
    out = client.run(f"redis-cli -h redis-server {args} {command}")
    return (out.stdout + out.stderr).strip()


def test_command_without_auth_is_refused(client):
    assert "NOAUTH" in cli(client, "", "GET anything")


def test_default_user_is_disabled(client):
    # AUTH with the legacy (default user) form must fail whatever the password.
    assert "WRONGPASS" in cli(client, "-a scenario-app-password-0001 --no-auth-warning", "PING")


def test_wrong_password_is_refused(client):
    assert "WRONGPASS" in cli(client, "--user app --pass wrong-password-000000 --no-auth-warning", "PING")


def test_set_get_with_auth(client):
    assert cli(client, APP, "SET it:works yes") == "OK"
    assert cli(client, APP, "GET it:works") == "yes"


def test_app_user_cannot_administer(client):
    assert "NOPERM" in cli(client, APP, "CONFIG SET maxmemory 1")
    assert "NOPERM" in cli(client, APP, "CLIENT KILL ID 1")


def test_app_user_may_list_clients_as_an_rq_1_worker_does(client):
    assert "cmd=client|list" in cli(client, APP, "CLIENT LIST")


def test_data_survives_restart(client, server):
    assert cli(client, APP, "SET survives:restart 42") == "OK"
    server.run_expect([0], "systemctl restart redis-server")
    for _ in range(20):
        if cli(client, APP, "GET survives:restart") == "42":
            break
        time.sleep(0.5)
    assert cli(client, APP, "GET survives:restart") == "42"


def test_not_listening_on_all_addresses(server):
    listeners = server.run("ss -Hltn").stdout
    ports = [line.split()[3] for line in listeners.splitlines()]
    redis = [p for p in ports if p.endswith(":6379")]
    assert redis, listeners
    assert not [p for p in redis if p.startswith(("0.0.0.0:", "*:", "[::]:"))], redis
    assert "127.0.0.1:6379" in redis


def test_persistence_is_rdb_and_aof(client):
    info = cli(client, ADMIN, "INFO persistence")
    assert "aof_enabled:1" in info
    assert cli(client, ADMIN, "CONFIG GET appendfsync").split() == ["appendfsync", "everysec"]
    assert "3600 1 300 100 60 10000" in cli(client, ADMIN, "CONFIG GET save")


def test_exporter_reports_up(client):
    metrics = client.check_output("curl -sf http://redis-server:9121/metrics")
    assert "\nredis_up 1\n" in metrics


def test_exporter_env_file_is_root_only(server):
    env = server.file("/etc/default/prometheus-redis-exporter")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)


def keyspace(client) -> dict[str, dict[str, int]]:
    """INFO keyspace of the live server, read from the client over the network."""
    out = {}
    for line in cli(client, ADMIN, "INFO keyspace").splitlines():
        if line.startswith("db"):
            db, fields = line.strip().split(":", 1)
            values = dict(f.split("=") for f in fields.split(","))
            out[db] = {"keys": int(values["keys"]), "expires": int(values["expires"])}
    return out


def snapshot(sid: str, **extra: object) -> dict:
    proc, facts = run_entrypoint(SCENARIO, "snapshot.yml", {"redis_snapshot_id": sid, **extra})
    assert proc.returncode == 0, proc.stdout[-3000:]
    return facts["redis_snapshot"]


def meta_of(server, sid: str) -> dict:
    return json.loads(server.file(f"{ROOT}/{sid}/meta.json").content_string)


def test_snapshot_meta_json_follows_the_schema(client, server):
    cli(client, ADMIN, "FLUSHALL")
    for i in range(25):
        assert cli(client, APP, f"SET page:{i} v{i}") == "OK"
    assert cli(client, APP, "SET session:1 x EX 3600") == "OK"
    assert cli(client, APP, "-n 2 RPUSH queue:jobs a b c") == "3"
    before = keyspace(client)
    assert before == {"db0": {"keys": 26, "expires": 1}, "db2": {"keys": 1, "expires": 0}}

    meta = snapshot(RELEASE, redis_snapshot_release=RELEASE)
    assert meta == meta_of(server, RELEASE)
    assert_meta(meta, service="redis", snapshot_id=RELEASE, release=RELEASE, host="redis-server", tool="redis-server")
    assert_single_file(meta, "dump.rdb", server.file(f"{ROOT}/{RELEASE}/dump.rdb"))
    # The figures are the data's at snapshot time.
    assert meta["checks"] == {"databases": before, "keys": 27}
    assert meta["tool"]["version"].startswith("7.")
    # meta.json is written last: nothing else but the RDB in the snapshot.
    assert sorted(server.check_output(f"ls -A {ROOT}/{RELEASE}").split()) == ["dump.rdb", "meta.json"]


def test_snapshot_of_a_sealed_id_changes_nothing(server):
    assert_sealed_id_unchanged(SCENARIO, server, "redis-server", ROOT, "redis", RELEASE)


def test_restore_brings_the_data_back_and_keeps_the_replaced_data(client, server):
    assert cli(client, APP, "SET page:0 changed-after-snapshot") == "OK"
    assert cli(client, APP, "SET brand:new x") == "OK"
    assert cli(client, APP, "-n 2 DEL queue:jobs") == "1"
    proc, facts = run_entrypoint(SCENARIO, "restore.yml", {"redis_snapshot_id": RELEASE})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert cli(client, APP, "GET page:0") == "v0"
    assert cli(client, APP, "EXISTS brand:new") == "0"
    assert cli(client, APP, "-n 2 LRANGE queue:jobs 0 -1").split() == ["a", "b", "c"]
    assert keyspace(client)["db0"]["keys"] == 26
    restored = facts["redis_restored"]
    assert restored["id"] == RELEASE and restored["checks"] == meta_of(server, RELEASE)["checks"]
    # The replaced data is where the result says: its AOF holds the writes made after the snapshot.
    replaced = restored["replaced"]
    assert replaced.startswith("/var/lib/redis/pre-restore-")
    assert server.file(replaced).is_directory
    assert server.run(f"grep -rqa changed-after-snapshot {replaced}/appendonlydir").rc == 0
    # The restored data is durable: it survives a restart (AOF rebuilt from the snapshot).
    server.run_expect([0], "systemctl restart redis-server")
    for _ in range(20):
        if cli(client, APP, "GET page:0") == "v0":
            break
        time.sleep(0.5)
    assert cli(client, APP, "GET page:0") == "v0"


def test_corrupted_snapshot_is_refused_before_redis_is_touched(client, server):
    snapshot("corrupt-me")
    server.run_expect([0], f"python3 -c \"p='{ROOT}/corrupt-me/dump.rdb'; b=bytearray(open(p,'rb').read()); "
                           f"b[len(b)//2] ^= 1; open(p,'wb').write(b)\"")
    assert cli(client, APP, "SET untouched yes") == "OK"
    run_id = [l for l in cli(client, ADMIN, "INFO server").splitlines() if l.startswith("run_id:")]
    aside = server.check_output("ls -d /var/lib/redis/pre-restore-* | sort")
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "restore.yml", "redis_snapshot_id": "corrupt-me"})
    assert proc.returncode != 0
    assert "snapshot corrupt-me in /var/backups/bundle/redis fails verification: dump.rdb does not match its sha256" in proc.stdout
    assert "Restore | stop Redis" not in proc.stdout
    assert [l for l in cli(client, ADMIN, "INFO server").splitlines() if l.startswith("run_id:")] == run_id
    assert cli(client, APP, "GET untouched") == "yes"
    assert server.check_output("ls -d /var/lib/redis/pre-restore-* | sort") == aside


def test_restore_fails_loudly_when_the_keys_differ_from_the_checks(client, server):
    snapshot("wrong-checks")
    # meta.json is not covered by its own checksums: record one key too many, as a wrong count would.
    server.run_expect([0], f"python3 -c \"import json; p='{ROOT}/wrong-checks/meta.json'; m=json.load(open(p)); "
                           f"m['checks']['databases']['db2']['keys'] += 1; json.dump(m, open(p, 'w'))\"")
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "restore.yml", "redis_snapshot_id": "wrong-checks"})
    assert proc.returncode != 0
    assert "its keys differ from the snapshot's checks: db2: 1 keys, the snapshot recorded 2" in proc.stdout
    assert "The replaced data is in /var/lib/redis/pre-restore-" in proc.stdout


def test_check_mode_verifies_and_changes_nothing(client, server):
    listing = server.check_output(f"ls -A {ROOT}")
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "snapshot.yml", "redis_snapshot_id": "check-only"}, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Check mode: redis snapshot check-only would be taken in /var/backups/bundle/redis." in proc.stdout
    assert server.check_output(f"ls -A {ROOT}") == listing
    assert cli(client, APP, "SET check:mode before") == "OK"
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "restore.yml", "redis_snapshot_id": RELEASE}, check=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Restore | stop Redis" not in proc.stdout
    assert cli(client, APP, "GET check:mode") == "before"
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "restore.yml", "redis_snapshot_id": "corrupt-me"}, check=True)
    assert proc.returncode != 0 and "dump.rdb does not match its sha256" in proc.stdout


def test_prune_keeps_the_newest_and_the_protected(server):
    for sid in ("p-1", "p-2", "p-3"):
        snapshot(sid)
    server.run_expect([0], f"mkdir {ROOT}/interrupted-old {ROOT}/interrupted-now && touch -d '3 days ago' {ROOT}/interrupted-old"
                           " && mkdir /var/lib/redis/pre-restore-20200101000000")
    proc, facts = run_entrypoint(SCENARIO, "snapshot_prune.yml",
                                 {"redis_snapshot_keep": 1, "redis_snapshot_protected": [RELEASE, "p-1"]})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sorted(facts["redis_snapshots_removed"]) == sorted(["p-2", "corrupt-me", "wrong-checks", "interrupted-old"])
    assert [s["id"] for s in facts["redis_snapshots"]] == ["p-3", "p-1", RELEASE]
    # The newest unprotected one, the protected ones, and a directory still being written stay.
    assert sorted(server.check_output(f"ls {ROOT}").split()) == sorted(["interrupted-now", "p-1", "p-3", RELEASE])
    # Replaced data older than redis_replaced_keep_days (7) goes; today's stays.
    aside = server.check_output("ls -d /var/lib/redis/pre-restore-*").split()
    assert "/var/lib/redis/pre-restore-20200101000000" not in aside and len(aside) == 2


def test_list_is_newest_first(server):
    proc, facts = run_entrypoint(SCENARIO, "snapshot_list.yml")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert [s["id"] for s in facts["redis_snapshots"]] == ["p-3", "p-1", RELEASE]
    assert facts["redis_snapshots"][2] == meta_of(server, RELEASE)


def test_bad_snapshot_id_is_refused_naming_the_variable(server):
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "snapshot.yml", "redis_snapshot_id": "../etc"})
    assert proc.returncode != 0
    assert "redis_snapshot_id must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$" in proc.stdout
    assert not server.file("/var/backups/etc").exists


@pytest.mark.parametrize("strategy", ["mitogen_linear", "linear"])
def test_admin_password_never_reaches_a_command_line(server, strategy):
    # -vvv prints, with Ansible's own strategy, each command it runs on the host and the environment it sets there.
    # Mitogen (the bundle's strategy) runs modules in its interpreter on the host: the only command lines are the
    # command tasks' argv (the redis-cli ones are no_log: censored in any output).
    proc = run_playbook(SCENARIO / "entrypoints.yml", {"entrypoint": "snapshot.yml", "redis_snapshot_id": f"verbose-{strategy}"},
                        verbosity=3, env=playbook_env(ANSIBLE_STRATEGY=strategy))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "task path:" in proc.stdout, "not a verbose run"
    if strategy == "linear":
        assert "<redis-server> EXEC" in proc.stdout
    assert ADMIN_PASSWORD not in proc.stdout
    assert "REDISCLI_AUTH" not in proc.stdout


def test_short_password_fails_in_preflight_naming_the_variable(server):
    before = server.file("/etc/redis/redis.conf").sha256sum
    res = run_playbook(SCENARIO / "converge.yml", {"redis_app_password": "short"})
    assert res.returncode != 0
    assert "redis_app_password must be set in inventory (Vault in real environments) to a generated value" in res.stdout
    assert "at least 16 characters long (redis_password_min_length)" in res.stdout
    assert "redis_admin_password must" not in res.stdout
    assert server.file("/etc/redis/redis.conf").sha256sum == before


def test_bad_memory_size_fails_in_preflight_whatever_the_tags(server):
    res = run_playbook(SCENARIO / "converge.yml", {"redis_maxmemory": "lots"}, args=["--tags", "redis_run"])
    assert res.returncode != 0
    assert "redis_maxmemory must be a Redis size" in res.stdout
