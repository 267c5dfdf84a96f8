"""App scenario: the image, the running app through the host-local switch, and a release switch.

Requests come from the client host (app-deps) over the scenario network to app-host:8000, the
stable address the proxy's upstream points at.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import testinfra
from playbook import run_playbook  # molecule/_shared/playbook.py, on the path via conftest.py

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO_DIR = Path(__file__).resolve().parent.parent
APP_URL = "http://app-host:8000"


def _host(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


APP = _host("app-host")
CLIENT = _host("app-deps")


def _curl(args: str) -> tuple[int, str]:
    """Run curl on the client; return (HTTP status, body)."""
    out = CLIENT.check_output(f"curl -sS -m 20 -o /tmp/body -w '%{{http_code}}' {args}; echo; cat /tmp/body")
    status, _, body = out.partition("\n")
    return int(status), body


def _get_json(path: str) -> tuple[int, dict]:
    status, body = _curl(f"{APP_URL}{path}")
    return status, json.loads(body) if body.strip().startswith("{") else {}


def _active_image() -> str:
    slot = APP.file("/var/lib/docshare/active-slot").content_string.strip()
    return APP.check_output("docker inspect --format '{{.Config.Image}}' docshare-web-%s", slot)


def _wait_health(expected: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = _get_json("/health")
        if status == expected or time.monotonic() > deadline:
            return {"status_code": status, **body}
        time.sleep(2)


# --- image -----------------------------------------------------------------------------
def test_runtime_image_is_small_safe_and_multistage(measure):
    image = _active_image()
    size = int(APP.check_output("docker image inspect --format '{{.Size}}' %s", image))
    measure(f"runtime image {image}: {size / 1e6:.1f} MB ({size} bytes)")
    probe = APP.run(
        "docker run --rm --entrypoint sh %s -c "
        "'id -u; command -v gcc cc x86_64-linux-gnu-gcc || true; ls /usr/include/python3* /usr/local/include/python3* 2>/dev/null || true;"
        " python -m pip --version 2>&1 || true; ls /root/.cache/pip 2>&1 || true'",
        image,
    )
    lines = probe.stdout.splitlines()
    assert probe.rc == 0, probe.stderr
    assert lines[0] == "10001", "runtime image must run as the non-root app uid"
    assert not any(line.endswith("gcc") or line.endswith("/cc") for line in lines), lines
    assert not any("Python.h" in line or line.startswith("/usr/include/python3") for line in lines), lines
    assert any("No module named pip" in line for line in lines), "pip must not be in the runtime image"
    history = APP.check_output("docker history --no-trunc --format '{{.CreatedBy}}' %s", image)
    assert "pip_ca" not in history and "PIP_INDEX_URL" not in history, "build-time pip options leaked"
    labels = json.loads(APP.check_output("docker image inspect --format '{{json .Config.Labels}}' %s", image))
    assert labels["org.opencontainers.image.revision"]
    assert labels["org.opencontainers.image.created"] not in ("", "unknown")
    assert labels["bundle.app.release"] == image.split(":", 1)[1]
    health = APP.check_output("docker image inspect --format '{{json .Config.Healthcheck}}' %s", image)
    assert "/health/live" in health


def test_containers_are_hardened():
    slot = APP.file("/var/lib/docshare/active-slot").content_string.strip()
    for name in (f"docshare-web-{slot}", "docshare-worker"):
        info = json.loads(APP.check_output("docker inspect %s", name))[0]
        host_config = info["HostConfig"]
        assert host_config["ReadonlyRootfs"] is True
        assert host_config["CapDrop"] == ["ALL"]
        assert "no-new-privileges" in host_config["SecurityOpt"]
        assert host_config["Memory"] > 0 and host_config["NanoCpus"] > 0
        assert host_config["LogConfig"]["Type"] == "journald"
        assert "/tmp" in host_config["Tmpfs"]
        assert info["Config"]["User"] == "10001:10001"
    env_file = APP.file("/etc/docshare/app.env")
    assert env_file.mode == 0o600 and env_file.user == "root"


def test_listens_on_private_address_not_everywhere():
    listeners = APP.check_output("ss -ltnH")
    assert "0.0.0.0:8000" not in listeners and "*:8000" not in listeners
    assert "127.0.0.1:8000" in listeners


# --- the running app ----------------------------------------------------------------------
def test_health_all_checks_ok():
    body = _wait_health(200)
    assert body["status_code"] == 200, body
    assert set(body["checks"]) >= {"database", "redis", "documents", "disk"}
    assert all(check["status"] == "ok" for check in body["checks"].values()), body


def test_upload_list_download_and_worker_processing():
    payload = f"molecule-{uuid.uuid4()}"
    CLIENT.run_expect([0], "printf %s %s > /tmp/upload.txt", "%s", payload)
    expected_sha = CLIENT.check_output("sha256sum /tmp/upload.txt | cut -d' ' -f1")
    status, body = _curl(f"-F file=@/tmp/upload.txt {APP_URL}/api/documents")
    assert status == 201, body
    doc = json.loads(body)
    status, listing = _get_json("/api/documents")
    assert status == 200 and doc["id"] in [d["id"] for d in listing["documents"]]
    out = CLIENT.check_output(f"curl -sS -m 20 -D - -o /dev/null {APP_URL}/documents/{doc['id']}/download")
    assert "x-accel-redirect:" in out.lower(), out
    stored = [line.split(":", 1)[1].strip() for line in out.splitlines() if line.lower().startswith("x-accel-redirect:")][0]
    on_share = APP.check_output("cat /srv/documents/%s", stored.rsplit("/", 1)[1])
    assert on_share == payload
    deadline = time.monotonic() + 90
    while True:
        status, detail = _get_json(f"/api/documents/{doc['id']}")
        if detail.get("sha256") or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert detail.get("sha256") == expected_sha, f"worker did not process the upload: {detail}"


def test_metrics_have_counters_and_release():
    _curl(f"{APP_URL}/api/documents")
    status, metrics = _curl(f"{APP_URL}/metrics")
    assert status == 200
    release = _active_image().split(":", 1)[1]
    assert "docshare_http_requests_total{" in metrics
    assert "docshare_http_request_duration_seconds_bucket{" in metrics
    assert f'docshare_build_info{{release="{release}"' in metrics


def test_redis_down_listing_works_and_health_reports_it():
    CLIENT.run_expect([0], "systemctl stop redis-server")
    try:
        status, listing = _get_json("/api/documents")
        assert status == 200 and "documents" in listing
        body = _wait_health(503, timeout=30)
        assert body["status_code"] == 503, body
        assert body["checks"]["redis"]["status"] != "ok"
        assert body["checks"]["database"]["status"] == "ok"
    finally:
        CLIENT.run_expect([0], "systemctl start redis-server")
    assert _wait_health(200)["status_code"] == 200


def test_converge_did_not_rebuild():
    """The idempotence step re-ran the role; the image must still be the one built first."""
    # The idempotence step itself fails on a rebuild (the build task always reports a change);
    # here: one release image, built once, carrying the release it runs as.
    tags = APP.check_output("docker image ls --format '{{.Tag}}' docshare").split()
    assert len(tags) == 1, f"one release image expected after converge + idempotence, found {tags}"


# --- release switch under load -------------------------------------------------------------
def test_release_switch_loses_no_request(measure):
    old = _active_image().split(":", 1)[1]
    loop = (
        "rm -f /tmp/loop.out /tmp/loop.stop /tmp/loop.done; "
        "nohup bash -c 'while [ ! -f /tmp/loop.stop ]; do "
        f"curl -s -m 10 -o /dev/null -w \"%{{http_code}}\\n\" {APP_URL}/api/documents >> /tmp/loop.out; "
        "done; touch /tmp/loop.done' >/dev/null 2>&1 &"
    )
    CLIENT.run_expect([0], loop)
    time.sleep(2)
    proc = _run_playbook("switch.yml")
    print(proc.stdout[-3000:])
    time.sleep(2)
    CLIENT.run_expect([0], "touch /tmp/loop.stop")
    for _ in range(60):
        if CLIENT.file("/tmp/loop.done").exists:
            break
        time.sleep(1)
    assert proc.returncode == 0, proc.stdout[-5000:]
    codes = CLIENT.check_output("cat /tmp/loop.out").split()
    failed = [c for c in codes if c != "200"]
    measure(f"requests during the release switch: {len(codes)}, failed: {len(failed)}")
    assert len(codes) > 10, "the request loop did not run during the switch"
    assert not failed, f"{len(failed)} of {len(codes)} requests failed during the switch: {sorted(set(failed))}"
    new = _active_image().split(":", 1)[1]
    assert new == f"{old}-next"
    status, metrics = _curl(f"{APP_URL}/metrics")
    assert f'docshare_build_info{{release="{new}"' in metrics
    # prune.yml (run by the switch playbook with keep 1) kept the running and the last good release
    tags = APP.check_output("docker image ls --format '{{.Tag}}' docshare").split()
    assert old in tags and new in tags, tags


# --- layer reuse ---------------------------------------------------------------------------------
def _run_playbook(name: str) -> subprocess.CompletedProcess:
    """A playbook of this scenario against its hosts (output and errors in .stdout)."""
    return run_playbook(SCENARIO_DIR / name)


def _cached_steps(log: str, needle: str) -> list[bool]:
    """For each BuildKit step whose header contains `needle`: was it CACHED?"""
    result = []
    for line in log.splitlines():
        if line.startswith("#") and " [" in line and needle in line:
            step = line.split(" ", 1)[0]
            result.append(f"{step} CACHED" in log)
    return result


def test_code_only_change_reuses_dependency_layers(measure):
    proc = _run_playbook("build_code_change.yml")
    assert proc.returncode == 0, proc.stdout[-5000:]
    log = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "code-change-build.log").read_text()
    release = log.rsplit("RELEASE=", 1)[1].strip()
    wheel_steps = _cached_steps(log, "pip wheel")
    venv_copy = _cached_steps(log, "COPY --from=builder /opt/venv")
    code_copy = _cached_steps(log, "COPY . /app")
    measure(f"code-only change built {release}: pip wheel cached={wheel_steps}, venv layer cached={venv_copy}, code copy cached={code_copy}")
    assert wheel_steps and all(wheel_steps), "the dependency (pip wheel) step was rebuilt for a code-only change"
    assert venv_copy and all(venv_copy), "the runtime venv layer was rebuilt for a code-only change"
    assert code_copy and not all(code_copy), "the code layer should have been rebuilt"
    old = _active_image()
    layers_old = json.loads(APP.check_output("docker image inspect --format '{{json .RootFS.Layers}}' %s", old))
    layers_new = json.loads(APP.check_output("docker image inspect --format '{{json .RootFS.Layers}}' docshare:%s", release))
    shared = sum(1 for a, b in zip(layers_old, layers_new) if a == b)
    measure(f"layers shared with the running image: {shared} of {len(layers_new)}")
    assert shared >= 3  # base, user, venv
