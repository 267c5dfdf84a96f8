"""Registry scenario: everything is checked over the scenario network, from the other hosts.

registry-plain has only curl and the test CA (no login, no Docker): it checks the API's answers.
registry-client1 and registry-client2 run their own Docker engines, converged with client.yml:
client1 pushes an image once, client2 pulls it, and the digests must be the same.
"""
from __future__ import annotations

import base64
import json
import os
import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra.utils.ansible_runner
from conftest import FIGURES
from playbook import recap_changed, run_playbook

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
REGISTRY = "registry-server:5000"
METRICS = "http://registry-server:5001/metrics"
PASSWORD = "scenario-deploy-password-0001"
CI_PASSWORD = "scenario-ci-password-000000001"
IMAGE = f"{REGISTRY}/test/base:1"
CA = "/root/registry-ca.crt"
CONFIG = "/etc/docker/registry/config.yml"
HTPASSWD = "/etc/docker/registry/htpasswd"

# Hosts by name (not testinfra's per-host `host`), so each test runs once.
_RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
SERVER, PLAIN, CLIENT1, CLIENT2 = (_RUNNER.get_host(f"registry-{name}") for name in ("server", "plain", "client1", "client2"))


@dataclass
class Response:
    rc: int
    status: int
    headers: str
    body: str


def curl(host, url: str, *options: str, user: str | None = None) -> Response:
    """curl on host; credentials go in a curl config read from stdin (-K -), not as a curl argument."""
    config = f'user = "{user}"\n' if user else ""
    cmd = (f"printf %s {shlex.quote(config)} | curl -sS -m 20 -K - -D /tmp/curl.h -o /tmp/curl.b "
           f"-w '%{{http_code}}' {' '.join(options)} {url}")
    res = host.run(cmd)
    status = int(res.stdout.strip() or 0)
    headers = host.run("cat /tmp/curl.h 2>/dev/null").stdout
    body = host.run("cat /tmp/curl.b 2>/dev/null; rm -f /tmp/curl.h /tmp/curl.b").stdout
    return Response(res.rc, status, headers, body)


def api(path: str, user: str | None = None, *options: str) -> Response:
    return curl(PLAIN, f"https://{REGISTRY}{path}", "--cacert", CA, *options, user=user)


def header(response: Response, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}:\s*(.*?)\r?$", response.headers, re.M | re.I)
    return match.group(1) if match else ""


# --- the API over TLS, from a host that has no login ------------------------------------------------
def test_v2_without_credentials_answers_401_over_verified_tls():
    res = api("/v2/")
    FIGURES["GET /v2/ without credentials"] = res.status
    assert res.rc == 0 and res.status == 401, res
    assert header(res, "WWW-Authenticate") == 'Basic realm="Registry"'
    assert header(res, "Docker-Distribution-Api-Version") == "registry/2.0"


def test_v2_with_a_wrong_password_answers_401():
    res = api("/v2/", "deploy:wrong-password-0000000000")
    FIGURES["GET /v2/ with a wrong password"] = res.status
    assert res.status == 401, res
    assert api("/v2/", "nobody:" + PASSWORD).status == 401


def test_v2_with_the_password_answers_200():
    res = api("/v2/", "deploy:" + PASSWORD)
    FIGURES["GET /v2/ with the password"] = res.status
    assert res.status == 200, res
    assert res.body.strip() == "{}"


def test_certificate_is_verified_not_skipped():
    # Without the CA the handshake fails (curl exit 60): the registry is only reachable with trust.
    res = curl(PLAIN, f"https://{REGISTRY}/v2/")
    FIGURES["GET /v2/ without the CA (curl exit)"] = res.rc
    assert res.rc == 60, res


def test_plain_http_is_refused():
    res = curl(PLAIN, f"http://{REGISTRY}/v2/", user="deploy:" + PASSWORD)
    FIGURES["GET http:// (plain) /v2/"] = res.status
    assert res.status == 400, res
    assert "HTTP request to an HTTPS server" in res.body
    assert "Docker-Distribution-Api-Version" not in res.headers


# --- push once, pull on the other host, digest verified ----------------------------------------------
def test_push_once_pull_elsewhere_same_digest():
    loaded = CLIENT1.check_output("docker load --input /root/debian-base.tar")
    source = re.search(r"Loaded image: (\S+)", loaded).group(1)
    CLIENT1.check_output(f"docker tag {source} {IMAGE}")
    started = time.monotonic()
    push = CLIENT1.run(f"docker push {IMAGE}")
    push_seconds = time.monotonic() - started
    assert push.rc == 0, push.stdout + push.stderr
    pushed = re.search(r"digest: (sha256:[0-9a-f]{64})", push.stdout).group(1)

    assert CLIENT2.run(f"docker image inspect {IMAGE}").rc != 0, "client2 must not have the image before the pull"
    started = time.monotonic()
    pull = CLIENT2.run(f"docker pull {IMAGE}")
    pull_seconds = time.monotonic() - started
    assert pull.rc == 0, pull.stdout + pull.stderr
    pulled = re.search(r"Digest: (sha256:[0-9a-f]{64})", pull.stdout).group(1)
    repo_digests = json.loads(CLIENT2.check_output("docker image inspect --format '{{json .RepoDigests}}' %s", IMAGE))

    # What the registry itself serves for the tag (manifest digest, read over the API).
    head = api("/v2/test/base/manifests/1", "deploy:" + PASSWORD, "-I",
               "-H", shlex.quote("Accept: application/vnd.docker.distribution.manifest.v2+json"))
    served = header(head, "Docker-Content-Digest")

    FIGURES["push digest (client1)"] = pushed
    FIGURES["pull digest (client2)"] = pulled
    FIGURES["RepoDigests (client2)"] = repo_digests
    FIGURES["Docker-Content-Digest (registry)"] = served
    FIGURES["push / pull seconds"] = f"{push_seconds:.1f} / {pull_seconds:.1f}"
    assert pulled == pushed
    assert f"{REGISTRY}/test/base@{pushed}" in repo_digests
    assert served == pushed
    # Same image id on both engines: the content, not just the name, arrived.
    image_ids = {h.check_output("docker image inspect --format '{{.Id}}' %s", IMAGE) for h in (CLIENT1, CLIENT2)}
    assert len(image_ids) == 1


def test_catalog_lists_the_pushed_repository():
    res = api("/v2/_catalog", "deploy:" + PASSWORD)
    assert res.status == 200
    assert "test/base" in json.loads(res.body)["repositories"]


def test_metrics_answer_prometheus_text():
    res = curl(PLAIN, METRICS)
    assert res.status == 200, res
    assert header(res, "Content-Type").startswith("text/plain")
    types = re.findall(r"^# TYPE (registry_\S+) (counter|gauge|histogram|summary)$", res.body, re.M)
    samples = re.findall(r"^registry_http_requests_total\{[^}]*\} ([0-9.e+]+)$", res.body, re.M)
    FIGURES["registry metric families"] = len(types)
    FIGURES["registry_http_requests_total series"] = len(samples)
    assert types and samples and sum(float(v) for v in samples) > 0


# --- on the hosts -----------------------------------------------------------------------------------
def test_listeners_are_on_the_private_address_only():
    address = SERVER.check_output("hostname -I").split()[0]
    listeners = [line.split()[3] for line in SERVER.check_output("ss -Hltn").splitlines()]
    ours = sorted(p for p in listeners if p.endswith((":5000", ":5001")))
    FIGURES["registry listeners"] = ours
    assert ours == sorted([f"{address}:5000", f"{address}:5001"])


def test_htpasswd_holds_bcrypt_hashes_only_and_is_not_world_readable():
    f = SERVER.file(HTPASSWD)
    assert (f.user, f.group, f.mode) == ("root", "docker-registry", 0o640)
    lines = f.content_string.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["deploy"]
    assert all(re.match(r"^[^:]+:\$2y\$10\$[./A-Za-z0-9]{53}$", line) for line in lines)
    assert PASSWORD not in f.content_string
    key = SERVER.file("/etc/docker/registry/tls/registry.key")
    assert (key.user, key.group, key.mode) == ("root", "docker-registry", 0o640)


def test_clients_trust_the_ca_per_registry_and_are_not_insecure():
    for client in (CLIENT1, CLIENT2):
        assert client.file(f"/etc/docker/certs.d/{REGISTRY}/ca.crt").exists
        index = json.loads(client.check_output("docker info --format '{{json .RegistryConfig.IndexConfigs}}'"))
        assert index.get(REGISTRY, {}).get("Secure", True) is True
        daemon = client.file("/etc/docker/daemon.json")
        assert not daemon.exists or "insecure" not in daemon.content_string


def stored_auth(client) -> str:
    config = client.file("/root/.docker/config.json")
    assert config.mode == 0o600
    return json.loads(config.content_string)["auths"][REGISTRY]["auth"]


def test_clients_hold_the_login():
    expected = base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
    assert stored_auth(CLIENT1) == stored_auth(CLIENT2) == expected


# --- passwords stay out of the output and off command lines ----------------------------------------
SAMPLER = ("setsid sh -c 'rm -f /tmp/ps-stop /tmp/ps-samples; i=0; "
           "while [ ! -e /tmp/ps-stop ] && [ $i -lt 6000 ]; do ps -eww -o args >> /tmp/ps-samples; "
           "echo ---- >> /tmp/ps-samples; i=$((i+1)); sleep 0.05; done' >/dev/null 2>&1 </dev/null &")


def test_password_change_relogin_with_no_password_in_output_or_ps():
    hosts = {"registry-server": SERVER, "registry-client1": CLIENT1, "registry-client2": CLIENT2}
    for host in hosts.values():
        host.run(SAMPLER)
    time.sleep(1)
    try:
        # A second user, and the clients switched to it: hashes are made, docker login runs.
        second = run_playbook(SCENARIO / "second_user.yml", verbosity=1)
        assert second.returncode == 0, second.stdout[-4000:]
        changed = recap_changed(second.stdout)
        assert changed["registry-server"] >= 1 and changed["registry-client1"] >= 1, changed
        assert api("/v2/", "ci:" + CI_PASSWORD).status == 200
        ci_auth = base64.b64encode(f"ci:{CI_PASSWORD}".encode()).decode()
        assert stored_auth(CLIENT1) == ci_auth

        # Back to deploy alone: ci is gone from the registry, the clients log in as deploy again.
        back = run_playbook(SCENARIO / "converge.yml", verbosity=1)
        assert back.returncode == 0, back.stdout[-4000:]
        assert api("/v2/", "ci:" + CI_PASSWORD).status == 401
        assert stored_auth(CLIENT2) == base64.b64encode(f"deploy:{PASSWORD}".encode()).decode()
    finally:
        for host in hosts.values():
            host.run("touch /tmp/ps-stop")
    time.sleep(0.5)

    for run in (second, back):
        assert "changed" in run.stdout
        for secret in (PASSWORD, CI_PASSWORD, base64.b64encode(f"ci:{CI_PASSWORD}".encode()).decode()):
            assert secret not in run.stdout
    FIGURES["-v converges checked for passwords"] = f"{len(second.stdout) + len(back.stdout)} characters"

    for name, host in hosts.items():
        samples = host.file("/tmp/ps-samples").content_string
        assert "python3" in samples, f"the ps sampler on {name} saw no Ansible module run"
        assert PASSWORD not in samples and CI_PASSWORD not in samples, f"a password appeared in ps on {name}"
        FIGURES[f"ps samples on {name}"] = (
            f"{samples.count('----')} samples, {samples.count('htpasswd ')} htpasswd and "
            f"{samples.count(' login ')} docker login process lines, no password")
        host.run("rm -f /tmp/ps-samples /tmp/ps-stop")


def test_no_password_in_the_scenario_log():
    log = PROJECT / ".cache" / "molecule" / "registry.log"
    if not log.exists():
        pytest.skip("run through tests/molecule_runner.py to have the scenario log")
    text = log.read_text()
    assert "PLAY RECAP" in text
    assert PASSWORD not in text


# --- preflight refuses bad input before anything changes --------------------------------------------
def refused(extra: dict, playbook: str = "converge.yml") -> str:
    before = [SERVER.file(p).sha256sum for p in (CONFIG, HTPASSWD)]
    res = run_playbook(SCENARIO / playbook, extra)
    assert res.returncode != 0, res.stdout[-3000:]
    assert [SERVER.file(p).sha256sum for p in (CONFIG, HTPASSWD)] == before
    return res.stdout


@pytest.mark.parametrize("password, reason", [
    ("tiny-pw", "has a password shorter than 16 characters"),
    ("change-me-at-least-16-chars", "has a placeholder password"),
    ("", "has no password"),
])
def test_weak_passwords_fail_in_preflight_naming_the_user(password, reason):
    out = refused({"registry_users": [{"name": "deploy", "password": password}]})
    assert f"registry_users 'deploy' {reason}" in out
    assert "Users are set in inventory" in out
    if password:
        assert password not in out


def test_missing_certificate_fails_in_preflight_naming_the_variable():
    out = refused({"registry_tls_certificate": "/etc/ssl/bundle/missing.crt"})
    assert "/etc/ssl/bundle/missing.crt not found on registry-server" in out
    assert "registry_tls_certificate" in out


def test_listening_on_every_address_is_refused():
    out = refused({"registry_listen_address": "0.0.0.0"})
    assert "registry_listen_address and registry_metrics_listen_address must be the host's private IP" in out


def test_client_without_the_ca_fails_naming_the_variable():
    out = refused({"registry_client_ca_certificate": "/nonexistent/ca.crt"}, playbook="clients.yml")
    assert "registry_client_ca_certificate must be the absolute path" in out


def test_client_with_a_wrong_password_fails_and_keeps_its_login():
    before = stored_auth(CLIENT1)
    out = refused({"registry_client_password": "wrong-password-but-long-01"}, playbook="clients.yml")
    assert "docker login" in out
    assert "wrong-password-but-long-01" not in out
    assert stored_auth(CLIENT1) == before
