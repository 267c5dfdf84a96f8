"""Bad input, one thing wrong at a time: every case must fail before any host changes, with a message
that names the variable and says what is expected.

Each case is the lab's inventory (this scenario's hosts, inventories/lab/group_vars) with one file
added in group_vars/<group>/, or one extra variable, run through the playbook an operator would run
(site.yml, deploy.yml, rollback.yml, maintenance.yml). Facts are cached between cases (they do not change), and a
site.yml case is limited to the hosts the wrong value concerns plus localhost; its preflight play is
any_errors_fatal, so one host's bad input stops every host. Proof that no host changed: a marker
file on every host before the first case, and after the last no file under the paths the playbooks
write is newer than it.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import PROJECT, host
from playbook import playbook_env, run_playbook  # molecule/_shared/playbook.py

sys.path.insert(0, str(PROJECT / "plugins" / "filter"))
from bundle_inputs import examples  # noqa: E402  (the table's own examples of wrong values)

HOSTS = ["stack-app1", "stack-app2", "stack-proxy1", "stack-redis1", "stack-db1", "stack-nfs1", "stack-monitor1", "stack-registry1"]
WATCHED = "/etc /usr/local /srv/www /var/lib/bundle /var/lib/docshare /var/backups/bundle /var/lib/nginx/bundle-drained /var/lib/prometheus/node-exporter"
MARKER = "/run/bad-input.marker"
RESULTS: list[str] = []

# (id, playbook, group whose group_vars get the wrong value (or None), the wrong values, extra vars, words the message must have)
CASES = [
    ("redis-port-out-of-range", "site", "redis", {"redis_port": 70000}, {}, ["redis_port"]),
    ("redis-password-short", "site", "redis", {"redis_app_password": "short"}, {}, ["redis_app_password", "16 characters"]),
    ("redis-password-placeholder", "site", "redis", {"redis_admin_password": "change-me-at-least-16-chars"}, {}, ["redis_admin_password", "placeholder"]),
    ("redis-acl-without-key-pattern", "site", "redis", {"redis_app_acl": "+@all -@admin"}, {}, ["redis_app_acl", "key pattern"]),
    ("redis-policy-unknown", "site", "redis", {"redis_maxmemory_policy": "sometimes"}, {}, ["redis_maxmemory_policy"]),
    ("redis-bind-everywhere", "site", "redis", {"redis_bind_addresses": ["0.0.0.0"]}, {}, ["redis_bind_addresses"]),
    ("postgres-listen-everywhere", "site", "db", {"postgres_listen_addresses": ["0.0.0.0"]}, {}, ["postgres_listen_addresses"]),
    ("postgres-client-bad-cidr", "site", "db", {"postgres_extra_clients": ["10.0.0.0/33"]}, {}, ["postgres_extra_clients"]),
    ("postgres-password-placeholder", "site", "db", {"postgres_db_password": "change-me-at-least-16-chars"}, {}, ["postgres_db_password"]),
    ("postgres-port-not-a-number", "site", "db", {"postgres_port": "fivefourthreetwo"}, {}, ["postgres_port"]),
    ("nfs-wildcard-client", "site", "nfs", {"nfs_extra_clients": ["*"]}, {}, ["nfs_extra_clients"]),
    ("nfs-public-client", "site", "nfs", {"nfs_extra_clients": ["0.0.0.0/0"]}, {}, ["nfs_extra_clients"]),
    ("nginx-size-unit", "site", "proxy", {"nginx_client_max_body_size": "10mb"}, {}, ["nginx_client_max_body_size"]),
    ("nginx-rate-words", "site", "proxy", {"nginx_rate_limit_rate": "fast"}, {}, ["nginx_rate_limit_rate"]),
    ("nginx-two-listeners-one-port", "site", "proxy", {"nginx_http_port": 8081}, {}, ["nginx_http_port", "nginx_stub_status_port"]),
    ("nginx-relative-certificate", "site", "proxy", {"nginx_tls_certificate": "proxy.crt"}, {}, ["nginx_tls_certificate"]),
    ("nginx-bypass-not-a-network", "site", "proxy", {"nginx_cache_bypass_networks": ["somewhere"]}, {}, ["nginx_cache_bypass_networks"]),
    ("app-name-malformed", "site", "app", {"app_name": "Bad_Name"}, {}, ["app_name"]),
    ("app-wsgi-module-malformed", "site", "app", {"app_wsgi_module": "notamodule"}, {}, ["app_wsgi_module"]),
    ("app-slot-ports-collide", "site", "app", {"app_slot_ports": {"blue": 8001, "green": 8001}}, {}, ["app_slot_ports"]),
    ("app-listen-everywhere", "site", "app", {"app_listen_addresses": ["0.0.0.0"]}, {}, ["app_listen_addresses"]),
    ("app-health-path-relative", "site", "app", {"app_health_path": "health"}, {}, ["app_health_path"]),
    ("app-env-bad-name", "site", "app", {"app_env": {"BAD-KEY": "x"}}, {}, ["app_env"]),
    ("app-env-placeholder", "site", "app", {"app_env": {"DOCSHARE_SECRET_KEY": "change-me-at-least-32-characters-long"}}, {}, ["app_env", "DOCSHARE_SECRET_KEY"]),
    ("app-port-on-node-exporter", "site", "app", {"app_port": 9100}, {}, ["app_port", "monitoring_node_exporter_port"]),
    ("prometheus-port-out-of-range", "site", "monitor", {"monitoring_prometheus_port": 99999}, {}, ["monitoring_prometheus_port"]),
    ("alert-ratio-above-one", "site", "monitor", {"monitoring_alert_http_5xx_ratio": 2}, {}, ["monitoring_alert_http_5xx_ratio"]),
    ("scrape-interval-words", "site", "monitor", {"monitoring_prometheus_scrape_interval": "often"}, {}, ["monitoring_prometheus_scrape_interval"]),
    ("firewall-admin-bad-cidr", "site", "proxy", {"firewall_admin_networks": ["10.0.0.0/33"]}, {}, ["firewall_admin_networks"]),
    ("firewall-admin-empty", "site", "proxy", {"firewall_admin_networks": []}, {}, ["firewall_admin_networks"]),
    ("registry-password-short", "site", "registry", {"registry_users": [{"name": "deploy", "password": "short"}]}, {}, ["registry_users"]),
    ("maintenance-schedule-rejected-by-systemd", "site", "db", {"maintenance_vacuum_schedule": "Sun 25:99"}, {}, ["maintenance_vacuum_schedule"]),
    ("empty-app-group", "site", "EMPTY-APP-GROUP", {}, {}, ["nginx_upstream_group"]),
    # Refused by the preflight: force=true, or in an order where the fleet already runs apps/docshare as it is (test_20 ends
    # there) the deploy is NOTHING TO DO before its preflight (found by a shuffled run).
    ("deploy-bake-query-does-not-parse", "deploy", None, {}, {"deploy_bake_query": "sum(rate(bundle_http_requests_total[1m]", "force": True},
     ["deploy_bake_query"]),
    ("deploy-batch-too-large", "deploy", None, {}, {"deploy_serial": 2, "force": True}, ["deploy_serial", "deploy_min_healthy"]),
    ("maintenance-keep-no-snapshot", "maintenance", None, {}, {"maintenance_keep_snapshots": 0}, ["maintenance_keep_snapshots"]),
    ("rollback-to-unknown", "rollback", None, {}, {"rollback_to": "no-such-release"}, ["rollback_to", "not in the ledger"]),
    ("rollback-to-malformed", "rollback", None, {}, {"rollback_to": "../etc/passwd"}, ["rollback_to", "not a release id"]),
]
# Every operations switch (roles/deploy/vars/main.yml __deploy_inputs), generated: one deploy.yml run with each
# switch of the wrong type, one with each out of range; the refusal (before the lock) must name every one.
OPS_SPECS = {name: {k: (v if "{{" not in str(v) else ".*") for k, v in spec.items()}
             for name, spec in yaml.safe_load((PROJECT / "roles" / "deploy" / "vars" / "main.yml").read_text())["__deploy_inputs"].items()}
OPS_WRONG_TYPE = {name: examples(spec)["wrong_type"] for name, spec in OPS_SPECS.items()}
OPS_OUT_OF_RANGE = {name: examples(spec)["out_of_range"] for name, spec in OPS_SPECS.items() if examples(spec)["out_of_range"] is not None}
CASES += [
    ("ops-switches-of-the-wrong-type", "deploy", None, {}, OPS_WRONG_TYPE, [f"{n}=" for n in OPS_WRONG_TYPE] + ["Bad input"]),
    ("ops-switches-out-of-range", "deploy", None, {}, OPS_OUT_OF_RANGE, [f"{n}=" for n in OPS_OUT_OF_RANGE] + ["Bad input"]),
]
LIMITS = {"redis": "redis", "db": "db", "nfs": "nfs", "proxy": "proxy", "app": "app", "monitor": "monitor", "registry": "registry",
          "EMPTY-APP-GROUP": "proxy"}


@pytest.fixture(scope="module", autouse=True)
def marker(measure):
    for name in HOSTS:
        host(name).check_output(f"touch {MARKER}")
    yield
    changed = {}
    # Not written by a playbook: the monitoring role's writability timer rewrites shared_volume.prom every minute,
    # and a maintenance timer (the hourly Redis check) writes its maintenance_<job>.prom whenever it fires, the
    # daily restore drill (05:10 in the lab) its snapshot_<service>.prom too.
    for name in HOSTS:
        out = host(name).check_output(f"find {WATCHED} -xdev -newer {MARKER} -type f 2>/dev/null | grep -v -e '/var/lib/docshare/.*cache' -e '/node-exporter/shared_volume.prom$' -e '/node-exporter/maintenance_[a-z]*.prom$' -e '/node-exporter/snapshot_[a-z]*.prom$' || true")
        if out.strip():
            changed[name] = out.split()
    measure(f"bad input: {len(RESULTS)} of {len(CASES)} cases refused with the variable named; hosts changed: {changed or 'none'}")
    assert not changed, f"a refused run changed hosts: {changed}"


@pytest.fixture(scope="module")
def fact_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("facts")


def inventory_with(tmp: Path, group: str | None, values: dict) -> Path:
    root = tmp / "inventory"
    root.mkdir()
    hosts = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text())
    if group == "EMPTY-APP-GROUP":
        hosts["app"]["hosts"] = {}  # Molecule writes its groups at the top level, next to all
    (root / "hosts.yml").write_text(yaml.safe_dump(hosts))
    shutil.copytree(PROJECT / "inventories" / "lab" / "group_vars", root / "group_vars")
    if group and values:
        (root / "group_vars" / group / "zz_bad_input.yml").write_text(yaml.safe_dump(values))
    return root


def run_case(case: tuple, root: Path, cache: Path) -> tuple[int, str]:
    name, playbook, group, values, extra, _ = case
    tmp = root / name
    tmp.mkdir()
    inventory = inventory_with(tmp, group, values)
    env = playbook_env(ANSIBLE_CACHE_PLUGIN="jsonfile", ANSIBLE_CACHE_PLUGIN_CONNECTION=str(cache), ANSIBLE_GATHERING="smart")
    args = ["--limit", f"{LIMITS[group]}:localhost"] if playbook == "site" else []
    proc = run_playbook(PROJECT / "playbooks" / f"{playbook}.yml", extra or None, args=args, inventory=inventory, env=env)
    return proc.returncode, proc.stdout


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, fact_cache, measure) -> dict[str, tuple[int, str]]:
    """Every case, three at a time (each is a short, mostly waiting ansible-playbook run)."""
    root = tmp_path_factory.mktemp("bad-input")
    # Facts once, so the cases do not gather them again and again.
    run_case(("facts", "facts", None, {}, {}, []), root, fact_cache)
    start = time.monotonic()
    # site.yml cases three at a time; deploy and rollback cases one after another (each takes the
    # environment's lock: run together, all but one would be refused by the lock, not by their input).
    # The operations-switch cases are refused before the lock: they run beside the site.yml cases.
    parallel = [c for c in CASES if c[1] == "site" or c[0].startswith("ops-switches")]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip([c[0] for c in parallel], pool.map(lambda c: run_case(c, root, fact_cache), parallel)))
    results.update({c[0]: run_case(c, root, fact_cache) for c in CASES if c[0] not in results})
    measure(f"bad input: {len(CASES)} cases ran in {time.monotonic() - start:.0f} s")
    return results


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_before_any_change(case, outcomes):
    name, words = case[0], case[5]
    code, output = outcomes[name]
    assert code != 0, f"{name}: the run succeeded:\n{output[-3000:]}"
    failures = "\n".join(line for line in output.splitlines() if "fatal" in line or "FAILED" in line or "msg" in line or "Why" in line)
    missing = [w for w in words if w not in failures]
    assert not missing, f"{name}: the refusal does not say {missing}:\n{failures[-3000:]}"
    RESULTS.append(name)
