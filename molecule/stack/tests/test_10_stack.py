"""The stack as one product: what `make up` builds, checked over the network as a user would.

First converge on fresh hosts (no unit a package started failed), both app hosts serve through
nginx, static assets are published with immutable caching, uploads round-trip through the worker
and NFS, release images came through the registry with equal digests, every Prometheus target is up.
"""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from conftest import address, fetch, host

APP_HOSTS = ["stack-app1", "stack-app2"]
ALL_HOSTS = APP_HOSTS + ["stack-proxy1", "stack-redis1", "stack-db1", "stack-nfs1", "stack-monitor1", "stack-registry1"]
# Units the packages would have started before their role configured them (roles/common/tasks/packages.yml).
HELD_UNITS = {
    "stack-db1": ["prometheus-postgres-exporter"],
    "stack-redis1": ["redis-server", "prometheus-redis-exporter"],
    "stack-proxy1": ["nginx", "prometheus-nginx-exporter", "mtail"],
    "stack-monitor1": ["prometheus", "prometheus-blackbox-exporter"],
    "stack-nfs1": ["nfs-ganesha"],
    "stack-registry1": ["docker-registry"],
}
# This kernel has no NFS, so the nfs-common client units on the ganesha host fail: said, not hidden.
LAB_KERNEL_UNITS = {"run-rpc_pipefs.mount", "rpc-gssd.service", "rpc_pipefs.target", "nfs-blkmap.service", "rpc-svcgssd.service"}


@pytest.mark.parametrize("name", ALL_HOSTS)
def test_no_unit_failed_since_boot(name, measure):
    """The first converge on fresh hosts: no service crash-looped before it was configured."""
    h = host(name)
    failed = set(h.check_output("systemctl list-units --state=failed --no-legend --plain | awk '{print $1}'").split())
    unexpected = failed - LAB_KERNEL_UNITS
    assert not unexpected, f"failed units on {name}: {unexpected}"
    if failed & LAB_KERNEL_UNITS:
        measure(f"NOT EXERCISED on {name}: {sorted(failed & LAB_KERNEL_UNITS)} fail because this kernel has no NFS")
    for unit in HELD_UNITS.get(name, []) + ["prometheus-node-exporter"]:
        journal = h.check_output(f"journalctl -b --no-pager -u {unit}.service -o cat || true")
        assert "Start request repeated too quickly" not in journal, f"{unit} on {name} hit its start limit"
        assert not re.search(r"Failed with result|Main process exited, code=exited, status=[1-9]", journal), (
            f"{unit} on {name} failed at some point since boot:\n{journal[-1500:]}")
        assert h.service(unit).is_running, f"{unit} is not running on {name}"


def test_both_app_hosts_serve_through_nginx(site, web, measure):
    before = {name: _requests_served(name) for name in APP_HOSTS}
    for _ in range(40):
        # The front page as a logged-in user: nginx's cache is bypassed, so every request reaches an app host
        # (the health page is internal: the public gets a 404 for it).
        response = web.get(f"{site}/", timeout=10, headers={"Cookie": "sessionid=stack-test-user"})
        assert response.status_code == 200 and response.headers.get("X-Cache-Status", "BYPASS") != "HIT"
    after = {name: _requests_served(name) for name in APP_HOSTS}
    served = {name: after[name] - before[name] for name in APP_HOSTS}
    measure(f"40 requests through nginx served by app hosts: {served}")
    assert all(count > 0 for count in served.values()), f"an app host got no request: {served}"
    # docshare sets X-Content-Type-Options itself: nginx's copy replaces it (requests joins repeated headers with ", ").
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["X-Frame-Options"] == "DENY", response.headers


def _requests_served(name: str) -> float:
    """docshare's request counter on one app host, read through its switch port."""
    text = fetch(name, "http://127.0.0.1:8000/metrics")
    return sum(float(m.group(1)) for m in re.finditer(r'^docshare_http_requests_total\{[^}]*route="/"[^}]*\} (\S+)', text, re.M))


def test_static_assets_are_published_and_immutable(site, web, measure):
    page = web.get(site + "/", timeout=10)
    assert page.status_code == 200
    assets = sorted(set(re.findall(r'(/static/[^"\']+)', page.text)))
    assert assets, "the page references no static asset"
    for asset in assets:
        response = web.get(site + asset, timeout=10)
        assert response.status_code == 200, f"{asset}: {response.status_code}"
        assert re.search(r"\.[0-9a-f]{8,}\.", asset), f"{asset} has no content hash"
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", response.headers
    missing = web.get(f"{site}/static/app.0123456789ab.css", timeout=10)
    assert missing.status_code == 404 and missing.headers.get("Cache-Control") == "no-store"
    gz = web.get(site + assets[0], headers={"Accept-Encoding": "gzip"}, timeout=10)
    measure(f"static assets through nginx: {assets} (immutable, gzip: {gz.headers.get('Content-Encoding', 'none')})")
    proxy = host("stack-proxy1")
    current = proxy.check_output("readlink /srv/www/static/current")
    assert current.startswith("releases/"), current


def test_upload_round_trips_through_worker_and_nfs(site, web, measure):
    content = f"stack upload {uuid.uuid4()}\n".encode()
    response = web.post(f"{site}/api/documents", files={"file": ("stack.txt", content, "text/plain")}, timeout=30)
    assert response.status_code == 201, response.text
    doc = response.json()
    deadline = time.monotonic() + 60
    while True:
        meta = web.get(f"{site}/api/documents/{doc['id']}", timeout=10).json()
        if meta.get("processed_at") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert meta.get("processed_at"), f"the worker did not process the upload: {meta}"
    assert meta["sha256"], meta
    download = web.get(f"{site}/documents/{doc['id']}/download", timeout=10)
    assert download.status_code == 200 and download.content == content
    stored = host("stack-nfs1").check_output(f"ls /srv/nfs/documents | grep -c . || true")
    measure(f"upload {doc['id']} processed by the worker, downloaded through X-Accel from NFS ({stored} files on the share)")


def test_release_images_came_through_the_registry_with_equal_digests():
    ids, digests = set(), set()
    for name in APP_HOSTS:
        h = host(name)
        slot = h.file("/var/lib/docshare/active-slot").content_string.strip()
        image = h.check_output("docker inspect --format '{{.Config.Image}}' docshare-web-%s", slot)
        assert image.startswith("stack-registry1:5000/docshare:"), image
        info = json.loads(h.check_output("docker image inspect %s", image))[0]
        ids.add(info["Id"])
        digests.update(d for d in info["RepoDigests"] if d.startswith("stack-registry1:5000/docshare@"))
    assert len(ids) == 1, f"app hosts run different images: {ids}"
    assert len(digests) == 1, f"registry digests differ: {digests}"


def test_every_prometheus_target_is_up(measure):
    url = f"http://{address('stack-monitor1')}:9090/api/v1/targets"
    deadline = time.monotonic() + 120
    while True:
        targets = json.loads(fetch("stack-monitor1", url))["data"]["activeTargets"]
        down = [f"{t['labels']['job']}/{t['labels']['instance']}: {t.get('lastError')}" for t in targets if t["health"] != "up"]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(5)
    measure(f"Prometheus: {len(targets) - len(down)} of {len(targets)} targets up")
    assert not down, down
    jobs = {t["labels"]["job"] for t in targets}
    assert {"node", "redis", "postgres", "nginx", "nginx_log", "registry", "app", "probe_app_health", "probe_public"} <= jobs, jobs


# --- the release image and its containers (what the app role builds and runs) ------------------------
def _active_image(name: str = "stack-app1") -> str:
    h = host(name)
    slot = h.file("/var/lib/docshare/active-slot").content_string.strip()
    return h.check_output("docker inspect --format '{{.Config.Image}}' docshare-web-%s", slot)


def test_runtime_image_is_small_non_root_and_without_build_tools(measure):
    app = host("stack-app1")
    image = _active_image()
    size = int(app.check_output("docker image inspect --format '{{.Size}}' %s", image))
    measure(f"runtime image {image}: {size / 1e6:.1f} MB")
    probe = app.run("docker run --rm --entrypoint sh %s -c 'id -u; command -v gcc cc || true; ls /usr/include/python3* 2>/dev/null || true;"
                    " python -m pip --version 2>&1 || true; python -c \"import wheel\" 2>&1 || true'", image)
    lines = probe.stdout.splitlines()
    assert probe.rc == 0 and lines[0] == "10001", probe.stdout + probe.stderr
    assert not any(line.endswith("gcc") or line.endswith("/cc") for line in lines), lines
    assert not any(line.startswith("/usr/include/python3") for line in lines), lines
    assert any("No module named pip" in line for line in lines) and any("No module named 'wheel'" in line for line in lines), lines
    history = app.check_output("docker history --no-trunc --format '{{.CreatedBy}}' %s", image)
    # The builder stage (where the CA reaches pip as a BuildKit secret mount, tests/unit) leaves no layer in this image.
    assert "pip wheel" not in history and "/run/secrets/" not in history, "a builder step shows in the runtime image's history"
    assert "BEGIN CERTIFICATE" not in history and "PIP_INDEX_URL=" not in history, "build-time pip settings leaked into the history"
    labels = json.loads(app.check_output("docker image inspect --format '{{json .Config.Labels}}' %s", image))
    assert labels["bundle.app.release"] == image.rsplit(":", 1)[1] and labels["org.opencontainers.image.created"] != "unknown"
    health = app.check_output("docker image inspect --format '{{json .Config.Healthcheck}}' %s", image)
    assert "/health/live" in health, "HEALTHCHECK probes app_container_health_path"


@pytest.mark.parametrize("name", APP_HOSTS)
def test_containers_are_hardened_and_the_switch_is_private(name):
    h = host(name)
    slot = h.file("/var/lib/docshare/active-slot").content_string.strip()
    env_keys = set(h.check_output("sed -n 's/=.*//p' /etc/docshare/app.env").split())
    assert "DOCSHARE_DATABASE_URL" in env_keys
    for container in (f"docshare-web-{slot}", "docshare-worker"):
        info = json.loads(h.check_output("docker inspect %s", container))[0]
        config = info["HostConfig"]
        assert config["ReadonlyRootfs"] is True and config["CapDrop"] == ["ALL"], container
        assert "no-new-privileges" in config["SecurityOpt"] and "/tmp" in config["Tmpfs"], container
        assert config["Memory"] > 0 and config["NanoCpus"] > 0 and config["LogConfig"]["Type"] == "journald", container
        assert info["Config"]["User"] == "10001:10001", container
        in_config = {e.split("=", 1)[0] for e in info["Config"]["Env"] or []} & env_keys
        assert not in_config, f"settings of app.env in {container}'s configuration (docker inspect): {in_config}"
    env_file = h.file("/etc/docshare/app.env")
    # Read by the containers' uid through env-exec (group app), by nobody else; never passed with --env-file.
    assert env_file.mode == 0o640 and env_file.user == "root" and env_file.gid == 10001, (oct(env_file.mode), env_file.gid)
    listeners = h.check_output("ss -Htln | awk '{print $4}'").split()
    assert "0.0.0.0:8000" not in listeners and "*:8000" not in listeners and "127.0.0.1:8000" in listeners, listeners
    assert not [l for l in listeners if l.endswith(":8001") or l.endswith(":8002")] or all(l.startswith("127.0.0.1:") for l in listeners
                                                                                            if l.endswith((":8001", ":8002"))), listeners
