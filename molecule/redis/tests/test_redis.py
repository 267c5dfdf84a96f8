"""Redis, tested from the client host over the scenario network."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
from playbook import run_playbook

SCENARIO = Path(__file__).resolve().parents[1]
APP = "--user app --pass scenario-app-password-0001 --no-auth-warning"
ADMIN = "--user admin --pass scenario-admin-password-0001 --no-auth-warning"


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


def test_snapshot_then_restore_brings_back_the_earlier_value(client, server):
    assert cli(client, APP, "SET snap:key before") == "OK"
    snap = run_playbook(SCENARIO / "entrypoint.yml", {"redis_entrypoint": "snapshot.yml", "redis_snapshot_id": "rel-1"})
    assert snap.returncode == 0, snap.stdout
    meta = server.file("/var/backups/bundle/redis/rel-1/meta.json")
    assert meta.exists and '"sha256"' in meta.content_string

    assert cli(client, APP, "SET snap:key after") == "OK"
    assert cli(client, APP, "SET snap:new-key x") == "OK"
    restore = run_playbook(SCENARIO / "entrypoint.yml", {"redis_entrypoint": "restore.yml", "redis_snapshot_id": "rel-1"})
    assert restore.returncode == 0, restore.stdout
    assert cli(client, APP, "GET snap:key") == "before"
    assert cli(client, APP, "EXISTS snap:new-key") == "0"
    # The restored data is durable: it survives a restart (AOF rebuilt from the snapshot).
    server.run_expect([0], "systemctl restart redis-server")
    time.sleep(1)
    assert cli(client, APP, "GET snap:key") == "before"
    # What the restore replaced was kept aside, not deleted.
    assert server.run("ls -d /var/lib/redis/pre-restore-*").rc == 0


def test_prune_keeps_protected_snapshots(server):
    for sid in ("rel-2", "rel-3"):
        res = run_playbook(SCENARIO / "entrypoint.yml", {"redis_entrypoint": "snapshot.yml", "redis_snapshot_id": sid})
        assert res.returncode == 0, res.stdout
    res = run_playbook(SCENARIO / "entrypoint.yml",
                       {"redis_entrypoint": "snapshot_prune.yml", "redis_snapshot_keep": 1, "redis_snapshot_protected": ["rel-1"]})
    assert res.returncode == 0, res.stdout
    left = sorted(server.check_output("ls /var/backups/bundle/redis").split())
    assert left == ["rel-1", "rel-3"]


def test_short_password_fails_in_preflight_naming_the_variable(server):
    before = server.file("/etc/redis/redis.conf").sha256sum
    res = run_playbook(SCENARIO / "converge.yml", {"redis_app_password": "short"})
    assert res.returncode != 0
    assert "redis_app_password must be set in inventory" in res.stdout
    assert "Preflight" in res.stdout or "Passwords are set" in res.stdout
    assert server.file("/etc/redis/redis.conf").sha256sum == before


def test_bad_memory_size_fails_in_preflight(server):
    res = run_playbook(SCENARIO / "converge.yml", {"redis_maxmemory": "lots"})
    assert res.returncode != 0
    assert "redis_maxmemory must be a Redis size" in res.stdout
