"""Host firewall, tested over the network: between the scenario's hosts and from this machine (the controller).

Every host runs stand-in listeners on the ports of its groups (vars/listeners.yml, bound to 0.0.0.0 on
purpose) and a probe (files/probe_ports.py) that reports each port as open, refused or filtered.
The expected model below is written from the security issue, not read from the role's defaults.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
import yaml
from conftest import FIGURES
from playbook import recap_changed, run_playbook

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
CONVERGE = SCENARIO / "converge.yml"
RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
GROUPS = {p["name"]: p["groups"] for p in yaml.safe_load((SCENARIO / "molecule.yml").read_text())["platforms"]}
LISTENERS = yaml.safe_load((SCENARIO / "vars" / "listeners.yml").read_text())["listeners"]
DEFAULT_SERVICES = yaml.safe_load((PROJECT / "roles" / "firewall" / "defaults" / "main.yml").read_text())["firewall_services"]
TABLE = "table inet bundle"
RULES_FILE = "/etc/nftables.d/bundle-firewall.nft"
EVERYONE = "*"
# (group the port is on, port, groups admitted): the model. SSH and Prometheus also admit the
# admin networks (only the controller here), checked from this machine in test_controller_is_an_admin.
MODEL = [
    ("all", "tcp/22", set()),
    ("all", "tcp/9100", {"monitor"}),
    ("proxy", "tcp/80", EVERYONE),
    ("proxy", "tcp/443", EVERYONE),
    ("proxy", "tcp/9113", {"monitor"}),
    ("proxy", "tcp/3903", {"monitor"}),
    ("app", "tcp/8000", {"proxy", "monitor"}),
    ("redis", "tcp/6379", {"app", "monitor"}),
    ("redis", "tcp/9121", {"monitor"}),
    ("db", "tcp/5432", {"app", "monitor"}),
    ("db", "tcp/9187", {"monitor"}),
    ("nfs", "tcp/2049", {"app", "proxy", "monitor"}),
    ("nfs", "tcp/111", {"app", "proxy"}),
    ("nfs", "udp/111", {"app", "proxy"}),
    ("nfs", "tcp/875", {"app", "proxy"}),
    ("nfs", "udp/875", {"app", "proxy"}),
    ("registry", "tcp/5000", {"app"}),
    ("registry", "tcp/5001", {"monitor"}),
    ("monitor", "tcp/9090", set()),
]


def host(name: str):
    return RUNNER.get_host(name)


def ports_of(name: str) -> list[str]:
    """Every port the host listens on: sshd's 22 and the listeners of its groups."""
    return ["tcp/22"] + [p for g in ["all"] + GROUPS[name] for p in LISTENERS[g]]


def admitted(source: str, target: str, port: str) -> bool:
    groups = {"all", *GROUPS[target]}
    for group, model_port, sources in MODEL:
        if model_port == port and group in groups:
            return sources == EVERYONE or bool(sources & set(GROUPS[source]))
    raise AssertionError(f"{port} on {target} is not in the model")


def probe(source: str, targets: list[str]) -> dict[str, str]:
    """States of host:proto/port targets as seen from source (all probed at once, 2 s timeout)."""
    return json.loads(host(source).check_output("probe-ports " + " ".join(targets)))


def wait_for(check, seconds: int = 30) -> None:
    for _ in range(seconds * 2):
        if check():
            return
        time.sleep(0.5)
    assert check()


def live(name: str) -> str:
    """Our live table without counters (nft -s), to compare rule sets."""
    return host(name).check_output(f"nft -s list {TABLE}")


def revision(name: str) -> str:
    return host(name).check_output(f"nft list {TABLE} | grep -o 'bundle firewall rev [0-9a-f]*'")


def plain(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The run's output without colours (molecule may force them) and with lines joined, for matching messages."""
    proc.stdout = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout)
    return proc


def said(proc: subprocess.CompletedProcess) -> str:
    return " ".join(proc.stdout.split())


def converge(extra_vars: dict | None = None, hosts: str = "firewall-db", args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The scenario's converge (facts of every host, the role on `hosts`) with extra variables."""
    return plain(run_playbook(CONVERGE, {"firewall_hosts": hosts, **(extra_vars or {})}, args=args))


@pytest.fixture(scope="module", autouse=True)
def firewall_loaded():
    """Every test needs the firewall live on every host; where nft could not load it, say so."""
    missing = [name for name in GROUPS if host(name).run(f"nft list {TABLE}").rc != 0]
    if missing:
        pytest.skip(f"NOT EXERCISED: table inet bundle is not loaded on {', '.join(missing)} (no CAP_NET_ADMIN? "
                    "the role's output says FIREWALL NOT APPLIED there); no firewall behaviour was tested")


@pytest.fixture(scope="module")
def matrix() -> dict[str, dict[str, str]]:
    """From every host, every port every other host listens on: {source: {target: state}}."""
    result = {}
    for source in GROUPS:
        targets = [f"{t}:{p}" for t in GROUPS if t != source for p in ports_of(t)]
        result[source] = probe(source, targets)
    states = [s for r in result.values() for s in r.values()]
    FIGURES.append(f"matrix: {len(states)} ports probed from {len(result)} hosts: {states.count('open')} open, "
                   f"{states.count('filtered')} filtered, {states.count('refused')} refused, "
                   f"{len([s for s in states if s.startswith('error')])} errors")
    for source, states_of in result.items():
        opened = sorted(t for t, s in states_of.items() if s == "open")
        FIGURES.append(f"  from {source}: {len(states_of)} probed, {len(opened)} open: {', '.join(opened) or '-'}")
    return result


def test_outsider_reaches_only_http_on_the_proxy(matrix):
    seen = matrix["firewall-outsider"]
    opened = {t for t, s in seen.items() if s == "open"}
    assert opened == {"firewall-proxy:tcp/80", "firewall-proxy:tcp/443"}, seen
    closed = [s for t, s in seen.items() if t not in opened]
    assert set(closed) <= {"filtered", "refused"} and len(closed) == len(seen) - 2
    FIGURES.append(f"outsider: {len(seen)} listened ports probed, 2 open (proxy 80/443), {closed.count('filtered')} filtered, "
                   f"{closed.count('refused')} refused")


@pytest.mark.parametrize("source, target", [
    ("firewall-app", "firewall-db:tcp/5432"),
    ("firewall-app", "firewall-db:tcp/6379"),
    ("firewall-app", "firewall-db:tcp/2049"),
    ("firewall-app", "firewall-db:udp/111"),
    ("firewall-app", "firewall-db:tcp/5000"),
    ("firewall-proxy", "firewall-app:tcp/8000"),
    ("firewall-proxy", "firewall-db:tcp/2049"),
    ("firewall-monitor", "firewall-app:tcp/8000"),
    ("firewall-monitor", "firewall-db:tcp/2049"),
])
def test_allowed_paths_are_open(matrix, source, target):
    assert matrix[source][target] == "open"


def test_monitor_reaches_every_exporter(matrix):
    exporters = [f"{t}:tcp/9100" for t in GROUPS if t != "firewall-monitor"] + [
        "firewall-proxy:tcp/9113", "firewall-proxy:tcp/3903", "firewall-db:tcp/9121", "firewall-db:tcp/9187",
        "firewall-db:tcp/5001"]
    states = {t: matrix["firewall-monitor"][t] for t in exporters}
    assert set(states.values()) == {"open"}, states


@pytest.mark.parametrize("source, target", [
    ("firewall-proxy", "firewall-db:tcp/5432"),
    ("firewall-proxy", "firewall-db:tcp/6379"),
    ("firewall-proxy", "firewall-db:tcp/5000"),
    ("firewall-app", "firewall-db:tcp/9121"),
    ("firewall-app", "firewall-db:tcp/9187"),
    ("firewall-app", "firewall-proxy:tcp/9113"),
    ("firewall-app", "firewall-monitor:tcp/9090"),
    ("firewall-app", "firewall-db:tcp/22"),
    ("firewall-monitor", "firewall-db:tcp/5000"),
    ("firewall-monitor", "firewall-db:udp/111"),
    ("firewall-db", "firewall-app:tcp/8000"),
])
def test_internal_hosts_outside_a_rule_are_kept_out(matrix, source, target):
    assert matrix[source][target] in ("filtered", "refused")


def test_every_path_matches_the_model(matrix):
    wrong = {f"{source} -> {target}": state for source, states in matrix.items() for target, state in states.items()
             if (state == "open") != admitted(source, target.split(":")[0], target.split(":")[1])}
    assert not wrong


def test_controller_is_an_admin():
    """This machine is the network's gateway, the only admin network: SSH everywhere, Prometheus, nothing else."""
    def state(name: str, port: int) -> str:
        address = host(name).check_output("hostname -I").split()[0]
        try:
            with socket.create_connection((address, port), timeout=2):
                return "open"
        except ConnectionRefusedError:
            return "refused"
        except OSError:
            return "filtered"

    seen = {f"{n}:22": state(n, 22) for n in GROUPS}
    seen |= {"firewall-monitor:9090": state("firewall-monitor", 9090), "firewall-db:5432": state("firewall-db", 5432),
             "firewall-app:8000": state("firewall-app", 8000)}
    assert seen.pop("firewall-db:5432") == "filtered" and seen.pop("firewall-app:8000") == "filtered"
    assert set(seen.values()) == {"open"}, seen
    # Like the lab's Prometheus: 127.0.0.1:29090 here, docker-proxy connects from the gateway.
    with socket.create_connection(("127.0.0.1", 29090), timeout=5) as sock:
        sock.settimeout(5)
        assert sock.recv(16) == b"ok\n"
    FIGURES.append("controller: SSH open on 5 hosts, Prometheus 9090 open (also through the published 127.0.0.1:29090), "
                   "5432 and 8000 filtered")


def test_our_table_is_the_only_change():
    proxy = host("firewall-proxy")
    before = set(proxy.file("/root/firewall-tables-before").content_string.splitlines())
    after = set(proxy.check_output("nft list tables").splitlines())
    assert {"table ip nat", "table inet site"} <= before
    assert after - before == {TABLE} and before <= after
    assert proxy.run("sha256sum -c /root/firewall-nftables-conf.sha256").rc == 0
    for name in GROUPS:
        tables = host(name).check_output("nft list tables").splitlines()
        assert TABLE in tables and "table ip nat" in tables, (name, tables)
        # Docker's embedded DNS is still redirected (127.0.0.11:53 to its real port).
        assert "127.0.0.11" in host(name).check_output("nft list table ip nat")
    FIGURES.append(f"proxy tables before: {sorted(before)}; after: {sorted(after)}")


def test_name_resolution_still_works():
    for name in GROUPS:
        for other in GROUPS:
            assert host(name).run(f"getent hosts {other}").rc == 0, (name, other)


def test_rules_file_unit_and_live_table_agree():
    for name in GROUPS:
        h = host(name)
        rules = h.file(RULES_FILE)
        assert (rules.user, rules.group, rules.mode) == ("root", "root", 0o644)
        assert h.run(f"nft -c -f {RULES_FILE}").rc == 0
        assert not [line for line in rules.content_string.splitlines() if line.strip().startswith("flush")]
        assert revision(name).split()[-1] in rules.content_string
        assert h.service("bundle-firewall").is_enabled and h.service("bundle-firewall").is_running
        assert "policy drop" in live(name)


def test_site_nftables_reload_keeps_our_table():
    """The site reloads its nftables.service: our unit follows (ReloadPropagatedFrom), both tables stay.

    Not `systemctl restart nftables`: Debian's unit stops with `nft flush ruleset`, which takes Docker's
    tables (and the embedded DNS) with it whatever our unit does; the role's README says so.
    """
    proxy = host("firewall-proxy")
    rev = revision("firewall-proxy")
    proxy.check_output("systemctl reload nftables")
    tables = proxy.check_output("nft list tables").splitlines()
    assert TABLE in tables and "table inet site" in tables and "table ip nat" in tables
    assert revision("firewall-proxy") == rev


def ssh_run(extra_vars: dict) -> subprocess.CompletedProcess:
    key = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "ssh" / "id_ed25519"
    return plain(run_playbook(SCENARIO / "ssh.yml", {"ssh_key": str(key), **extra_vars}))


def test_changed_rule_set_applied_while_connections_stay_open():
    """A changed rule set applied over SSH: Ansible's own connection and an open app -> db:5432 connection both
    survive the apply (established traffic is accepted before any drop); new app connections are dropped."""
    app, db = host("firewall-app"), host("firewall-db")
    db.run("rm -f /root/firewall-ssh-result.json")
    app.check_output("rm -rf /run/fw-hold && mkdir /run/fw-hold")
    app.check_output("systemd-run --unit fw-hold --collect /usr/bin/python3 /usr/local/bin/probe-ports "
                     "--hold firewall-db:tcp/5432 /run/fw-hold")
    wait_for(lambda: app.run("cat /run/fw-hold/state").stdout == "connected")
    services = [dict(s, from_groups=["monitor"]) if s["name"] == "postgres" else s for s in DEFAULT_SERVICES]
    extra = [{"name": "ssh-test-extra", "group": "db", "ports": [8443], "from_groups": ["app"]}]
    before = revision("firewall-db")
    try:
        proc = ssh_run({"firewall_services": services, "firewall_extra_rules": extra})
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert recap_changed(proc.stdout).get("firewall-db", 0) > 0
        # The preflight saw the SSH client and checked it against firewall_admin_networks.
        assert "The controller is inside firewall_admin_networks" in proc.stdout
        assert "no SSH_CLIENT" not in said(proc)
        result = json.loads(db.file("/root/firewall-ssh-result.json").content_string)
        assert result["before"] == result["after"], result
        assert 'comment "ssh-test-extra"' in result["live"] and revision("firewall-db") != before
        assert probe("firewall-app", ["firewall-db:tcp/5432"])["firewall-db:tcp/5432"] == "filtered"
        app.check_output("touch /run/fw-hold/go")
        wait_for(lambda: app.run("cat /run/fw-hold/state").stdout != "connected")
        assert app.run("cat /run/fw-hold/state").stdout == "echoed"
    finally:
        restored = converge()
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert revision("firewall-db") == before and "ssh-test-extra" not in live("firewall-db")
    assert probe("firewall-app", ["firewall-db:tcp/5432"])["firewall-db:tcp/5432"] == "open"
    FIGURES.append(f"changed rule set applied over SSH {result['before']} (client address, port, server port): the same "
                   "connection ran the next tasks; an open app -> db:5432 connection still echoed, new ones filtered")


def test_preflight_refuses_a_controller_outside_admin_networks():
    before = live("firewall-db")
    proc = ssh_run({"firewall_admin_networks": ["192.0.2.0/24"]})
    assert proc.returncode != 0
    assert "which is not inside firewall_admin_networks (192.0.2.0/24)" in said(proc), proc.stdout[-3000:]
    assert "Add that address (or its network) to firewall_admin_networks" in said(proc)
    assert live("firewall-db") == before


def test_nft_check_refuses_a_broken_candidate():
    db = host("firewall-db")
    before, file_before = live("firewall-db"), db.file(RULES_FILE).sha256sum
    proc = converge({"firewall_extra_rules": [{"name": "typo", "group": "db", "rule": "tcp dport 5432 acept"}]})
    assert proc.returncode != 0
    assert "failed to validate" in proc.stdout and "acept" in proc.stdout, proc.stdout[-3000:]
    assert live("firewall-db") == before
    assert db.file(RULES_FILE).sha256sum == file_before


@pytest.mark.parametrize("extra_vars, message", [
    ({"firewall_admin_networks": ["10.0.0.300/32"]}, "firewall_admin_networks must list the addresses or CIDR networks"),
    ({"firewall_admin_networks": []}, "firewall_admin_networks must list the addresses or CIDR networks"),
    ({"firewall_extra_rules": [{"name": "big", "group": "db", "ports": [70000], "from_groups": ["app"]}]},
     "firewall_extra_rules[0] (big): ports must be a non-empty list of port numbers 1-65535"),
    ({"firewall_extra_rules": [{"name": "typo", "group": "db", "ports": [5432], "from_groups": ["aap"]}]},
     "firewall_extra_rules[0] (typo): from_groups aap: neither inventory groups nor in firewall_known_groups"),
    ({"firewall_extra_rules": [{"name": "net", "group": "db", "ports": [1], "from_networks": ["10.0.0.0/33"]}]},
     "fix 10.0.0.0/33"),
])
def test_preflight_refuses_bad_input(extra_vars, message):
    before = live("firewall-db")
    # Input is checked before any address is resolved: the facts of firewall-db alone are enough.
    proc = converge(extra_vars, args=("--limit", "firewall-db"))
    assert proc.returncode != 0
    assert message in said(proc), proc.stdout[-3000:]
    assert live("firewall-db") == before


def test_disabled_removes_only_our_table_and_comes_back():
    outsider = host("firewall-outsider")
    proc = converge({"firewall_enabled": False}, hosts="firewall-outsider")
    try:
        assert proc.returncode == 0, proc.stdout[-3000:]
        tables = outsider.check_output("nft list tables").splitlines()
        assert TABLE not in tables and "table ip nat" in tables
        assert not outsider.file(RULES_FILE).exists
        assert not outsider.file("/etc/systemd/system/bundle-firewall.service").exists
        assert probe("firewall-app", ["firewall-outsider:tcp/9100"])["firewall-outsider:tcp/9100"] == "open"
    finally:
        proc = converge(hosts="firewall-outsider")
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert probe("firewall-app", ["firewall-outsider:tcp/9100"])["firewall-outsider:tcp/9100"] == "filtered"


def test_rules_survive_a_reboot():
    """docker restart: a new network namespace, empty of our table; systemd's boot must load it again."""
    rev = revision("firewall-db")
    subprocess.run(["docker", "restart", "firewall-db"], check=True, capture_output=True, timeout=120)
    wait_for(lambda: host("firewall-db").run("systemctl is-system-running").stdout.strip() in ("running", "degraded"), 60)
    assert revision("firewall-db") == rev
    assert "table ip nat" in host("firewall-db").check_output("nft list tables")
    assert host("firewall-db").run("getent hosts firewall-app").rc == 0
    wait_for(lambda: probe("firewall-app", ["firewall-db:tcp/5432"])["firewall-db:tcp/5432"] == "open")
    assert probe("firewall-outsider", ["firewall-db:tcp/5432"])["firewall-db:tcp/5432"] == "filtered"
    FIGURES.append(f"reboot (docker restart firewall-db): table loaded at boot, {rev}")


def test_figures_of_the_rules():
    """Admitting rules per host, and what the final drop rule counted during the tests."""
    figures = []
    for name in GROUPS:
        text = host(name).check_output(f"nft list {TABLE}")
        rules = [line for line in text.splitlines() if " dport " in line and " accept comment " in line]
        dropped = [line for line in text.splitlines() if 'comment "dropped' in line]
        assert rules and len(dropped) == 1, text
        figures.append(f"{name} {len(rules)} rules, dropped {dropped[0].split('packets ')[1].split()[0]} packets")
    FIGURES.append("per host: " + "; ".join(figures))
