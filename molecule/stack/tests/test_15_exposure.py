"""What the stack exposes, scanned from an outsider host on the same network, with the real services
listening (the firewall role on every host, the roles' own listeners). Only the proxy's 80 and 443
answer an outsider; an allowed app host still meets Redis's and PostgreSQL's own credential checks.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import PROJECT, address, host, run_playbook

PROBE = PROJECT / "molecule" / "firewall" / "files" / "probe_ports.py"
# Every port a service of the bundle listens on, per host.
LISTENERS = {
    "stack-app1": [22, 9100, 8000],
    "stack-app2": [22, 9100, 8000],
    "stack-proxy1": [22, 9100, 80, 443, 9113, 3903],
    "stack-redis1": [22, 9100, 6379, 9121],
    "stack-db1": [22, 9100, 5432, 9187],
    "stack-nfs1": [22, 9100, 2049, 111, 875],
    "stack-monitor1": [22, 9100, 9090],
    "stack-registry1": [22, 9100, 5000, 5001],
}


def probe_from(source: str, targets: list[str]) -> dict[str, str]:
    h = host(source)
    h.check_output("mkdir -p /usr/local/lib/stack-tests")
    if not h.file("/usr/local/lib/stack-tests/probe_ports.py").exists:
        h.run("cat > /usr/local/lib/stack-tests/probe_ports.py <<'EOF'\n%s\nEOF" % PROBE.read_text())
    return json.loads(h.check_output("python3 /usr/local/lib/stack-tests/probe_ports.py " + " ".join(targets)))


@pytest.fixture(scope="module")
def outsider_view() -> dict[str, str]:
    targets = [f"{address(name)}:tcp/{port}" for name, ports in LISTENERS.items() for port in ports]
    return probe_from("stack-client", targets)


def test_the_services_really_listen():
    """The scan below means something only if every port has a listener."""
    missing = {}
    for name, ports in LISTENERS.items():
        listening = host(name).check_output("ss -Htln | awk '{print $4}'")
        absent = [p for p in ports if f":{p}" not in listening]
        if absent:
            missing[name] = absent
    assert not missing, f"not listening: {missing}"


def test_an_outsider_reaches_only_the_proxys_http_and_https(outsider_view, measure):
    proxy = address("stack-proxy1")
    open_ports = sorted(t for t, state in outsider_view.items() if state == "open")
    assert open_ports == sorted([f"{proxy}:tcp/80", f"{proxy}:tcp/443"]), open_ports
    closed = [t for t, state in outsider_view.items() if state in ("filtered", "refused")]
    measure(f"outsider scan: {len(outsider_view)} service ports probed, {len(open_ports)} open (proxy 80/443), {len(closed)} closed or filtered")


def test_allowed_hosts_still_meet_credentials():
    """From an app host (allowed through the firewall): Redis and PostgreSQL refuse without credentials."""
    app = host("stack-app1")
    redis = app.run("python3 -c \"import socket; s=socket.create_connection(('%s', 6379), 3); s.sendall(b'GET x\\r\\n'); print(s.recv(200).decode())\"",
                    address("stack-redis1"))
    assert redis.rc == 0 and "NOAUTH" in redis.stdout, redis.stdout + redis.stderr
    # No psql on the app hosts: psycopg from the release image, over the network as the app connects.
    image = app.check_output("docker ps --filter name=web --format '{{.Image}}'").split()[0]
    pg = app.run("docker run --rm --network host --entrypoint python3 %s -c %s", image,
                 f"import psycopg; psycopg.connect('host={address('stack-db1')} user=docshare dbname=docshare password=wrong connect_timeout=5')")
    assert pg.rc != 0 and "password authentication failed" in pg.stderr, pg.stderr
    reach = probe_from("stack-app1", [f"{address('stack-app2')}:tcp/8000"])
    assert set(reach.values()) == {"filtered"}, f"app hosts must not reach each other's switch: {reach}"


@pytest.mark.parametrize("path", ["/metrics", "/health"])
def test_internal_endpoints_are_not_public(site, web, path):
    """The app's metrics and detailed health are for the monitor host (it asks the app hosts directly)."""
    response = web.get(site + path, timeout=10)
    assert response.status_code == 404, (path, response.status_code, response.text[:200])


# --- secrets --------------------------------------------------------------------------------------
def _secrets() -> list[str]:
    """Every secret the lab generated (.cache/lab-secrets), at least 16 characters each."""
    folder = PROJECT / ".cache" / "lab-secrets"
    values = [p.read_text().strip() for p in sorted(folder.iterdir()) if p.is_file()]
    assert values and all(len(v) >= 16 for v in values), "the lab's secrets are missing"
    return values


VERBOSE_CONVERGE = PROJECT / ".cache" / "molecule" / "stack.idempotence-vvv.log"


def test_no_secret_in_a_verbose_converge(measure):
    """-vvv shows module arguments (and SSH/docker command lines without Mitogen): no generated secret may appear in a converge of
    every role. tests/molecule_runner.py runs the scenario's idempotence converge at -vvv and keeps its output;
    run by hand (molecule verify), this test converges site.yml at -vvv itself."""
    if VERBOSE_CONVERGE.exists() and VERBOSE_CONVERGE.stat().st_mtime > time.time() - 6 * 3600:
        output, source = VERBOSE_CONVERGE.read_text(), "the idempotence converge (-vvv)"
    else:
        proc = run_playbook(PROJECT / "playbooks" / "site.yml", verbosity=3, timeout=2400)
        assert proc.returncode == 0, proc.stdout[-3000:]
        output, source = proc.stdout, "a site.yml converge (-vvv)"
    # -vvv: every module's arguments (a command task's argv is the command line it runs on the host; under Mitogen,
    # the bundle's strategy, nothing else runs there), and with Ansible's own connection the command lines too.
    assert "module_args" in output, f"{source} is not a -vvv output (no module arguments in it)"
    for role in ("redis", "postgres", "registry", "app", "nginx", "monitoring"):
        assert f"TASK [{role} : " in output, f"{source} ran no task of role {role}"
    leaked = [i for i, secret in enumerate(_secrets()) if secret in output]
    measure(f"{source}: {len(output) // 1024} KiB of output, {len(leaked)} of {len(_secrets())} generated secrets in it")
    assert not leaked, f"secrets number {leaked} of .cache/lab-secrets appear in {source}"


def test_no_secret_in_world_readable_files_containers_or_images(measure):
    secrets_file = "/root/.stack-test-secrets"
    checked = 0
    for name in HOSTS_WITH_SECRETS:
        h = host(name)
        h.run("install -m 0600 /dev/null %s", secrets_file)
        h.run("cat > %s <<'EOF'\n%s\nEOF" % (secrets_file, "\n".join(_secrets())))
        try:
            found = h.run("find / -xdev \\( -path /proc -o -path /sys -o -path /var/lib/docker -o -path /root \\) -prune -o "
                          "-type f -perm -004 -size -4M -print0 | xargs -0 grep -lF -f %s 2>/dev/null", secrets_file).stdout.split()
            assert not found, f"world-readable files on {name} hold a secret: {found}"
            if name.startswith("stack-app"):
                containers = h.check_output("docker ps -q").split()
                inspect = h.check_output("docker inspect " + " ".join(containers)) if containers else ""
                images = h.check_output("docker image ls -q").split()
                history = "".join(h.check_output("docker history --no-trunc %s", image) for image in images)
                leaked = [i for i, s in enumerate(_secrets()) if s in inspect or s in history]
                assert not leaked, f"secrets number {leaked} appear in docker inspect or image history on {name}"
        finally:
            h.run("rm -f %s", secrets_file)
        checked += 1
    measure(f"no generated secret in world-readable files of {checked} hosts, in docker inspect of the app containers or in image history")


HOSTS_WITH_SECRETS = ["stack-app1", "stack-app2", "stack-redis1", "stack-db1", "stack-registry1", "stack-proxy1", "stack-monitor1"]
