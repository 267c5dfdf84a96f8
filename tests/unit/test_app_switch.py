"""The app role's one-command switch (roles/app/files/app_switch.py) against a fake host: the order of its
steps, the drain that ends when nginx holds nothing for the old slot, and the host put back as it was after a
failure at each step."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

SPEC = importlib.util.spec_from_file_location("app_switch", Path(__file__).resolve().parents[2] / "roles" / "app" / "files" / "app_switch.py")
assert SPEC and SPEC.loader
app_switch = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(app_switch)

UNITS = {"blue": "app-web@blue.service", "green": "app-web@green.service"}


def spec(**changes: Any) -> dict[str, Any]:
    base = {
        "image": "app:R2", "web": True, "from": "blue", "to": "green",
        "slot_conf": "/etc/app/web-green.conf", "slot_content": "APP_RELEASE=R2\n",
        "switch_active": "/etc/nginx/app-active-slot.conf",
        "switch_content": {"blue": "server 127.0.0.1:8001;\n", "green": "server 127.0.0.1:8002;\n"},
        "active_slot_file": "/var/lib/app/active-slot", "units": UNITS,
        "containers": {"blue": "app-web-blue", "green": "app-web-green"}, "ports": {"blue": 8001, "green": 8002},
        "app_port": 8000, "health_path": "/health", "timeout": 90, "restarts": 2, "stable": 5, "drain_max": 5,
        "worker": True, "worker_unit": "app-worker.service", "worker_container": "app-worker",
        "worker_conf": "/etc/app/worker.conf", "worker_content": "APP_RELEASE=R2\n", "worker_old_content": "APP_RELEASE=R1\n",
    }
    return {**base, **changes}


class FakeHost:
    """Files in a dict, commands recorded; `unhealthy` names (unit, port) pairs whose gate fails."""

    def __init__(self, unhealthy: set[tuple[str, int]] = frozenset(), failing: str = "", image: bool = True, busy: list[int] | None = None) -> None:
        self.files = {"/etc/nginx/app-active-slot.conf": "server 127.0.0.1:8001;\n", "/var/lib/app/active-slot": "blue\n",
                      "/etc/app/worker.conf": "APP_RELEASE=R1\n"}
        self.log: list[str] = []
        self.unhealthy, self.failing, self.has_image = unhealthy, failing, image
        self.busy_answers, self.t = list(busy or [0]), 0.0

    def run(self, *argv: str) -> tuple[int, str]:
        command = " ".join(argv)
        self.log.append(command)
        return (1, "refused") if self.failing and self.failing in command else (0, "")

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def write(self, path: str, content: str) -> None:
        self.log.append(f"write {path}")
        self.files[path] = content

    def image_id(self, image: str) -> str:
        return "sha256:abc" if self.has_image else ""

    def gate(self, unit: str, url: str, timeout: float, restarts: int, stable: float, container: str) -> dict[str, Any]:
        port = int(url.split(":")[2].split("/")[0]) if url else 0
        self.log.append(f"gate {unit} {port}")
        if (unit, port) in self.unhealthy:
            return {"ok": False, "reason": "the container keeps restarting (2 restarts in 3 s)", "status": 0}
        return {"ok": True, "reason": "answers 200", "status": 200}

    def busy(self, port: int) -> int:
        return self.busy_answers.pop(0) if self.busy_answers else 0

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def clock(self) -> float:
        return self.t


def test_switch_in_order_and_the_old_slot_stopped_once_drained() -> None:
    host = FakeHost(busy=[2, 1, 0])
    result = app_switch.switch(spec(), host)
    assert result["ok"] and result["image_id"] == "sha256:abc"
    assert result["did"] == ["started slot green", "restarted the worker", "traffic to slot green", "stopped slot blue"]
    order = [line for line in host.log if not line.startswith("write")]
    # the worker's gate runs beside the slot's; traffic moves only after both
    assert order.index("systemctl restart app-web@green.service") < order.index("systemctl restart app-worker.service") \
        < max(order.index("gate app-web@green.service 8002"), order.index("gate app-worker.service 0")) \
        < order.index("/bin/sh -c nginx -t -q && systemctl reload nginx") < order.index("gate app-web@green.service 8000") \
        < order.index("systemctl disable --now app-web@blue.service")
    assert host.files["/etc/nginx/app-active-slot.conf"] == "server 127.0.0.1:8002;\n"
    assert host.files["/var/lib/app/active-slot"] == "green\n"
    # waited while nginx held requests for blue (two busy polls after the first 0.2 s), not a fixed drain
    assert host.t == pytest.approx(0.6)


def test_drain_ends_at_drain_max_when_connections_stay_open() -> None:
    host = FakeHost(busy=[1] * 1000)
    assert app_switch.switch(spec(drain_max=2), host)["ok"]
    assert 2.0 <= host.t < 2.5


def test_missing_image_changes_nothing() -> None:
    host = FakeHost(image=False)
    result = app_switch.switch(spec(), host)
    assert not result["ok"] and "not on this host: deliver it first" in result["reason"]
    assert host.files["/var/lib/app/active-slot"] == "blue\n"
    assert not [line for line in host.log if "restart" in line or "write" in line]


def test_unhealthy_slot_never_gets_traffic() -> None:
    host = FakeHost(unhealthy={("app-web@green.service", 8002)})
    result = app_switch.switch(spec(), host)
    assert not result["ok"] and result["step"] == "healthy before traffic moves to green"
    assert result["reason"].startswith("app-web-green did not become healthy (limit 90 s): the container keeps restarting")
    assert "nothing answered on port 8002" in result["reason"] and result["container"] == "app-web-green"
    assert host.files["/etc/nginx/app-active-slot.conf"] == "server 127.0.0.1:8001;\n"
    assert "systemctl disable --now app-web@green.service" in host.log
    assert not any("reload nginx" in line for line in host.log)
    # the worker, restarted beside the slot, is back on its release
    assert host.files["/etc/app/worker.conf"] == "APP_RELEASE=R1\n" and host.log[-1] == "systemctl restart app-worker.service"
    assert result["reverted"] == []


def test_failure_after_traffic_moved_puts_the_old_slot_back() -> None:
    host = FakeHost(unhealthy={("app-web@green.service", 8000)})
    result = app_switch.switch(spec(), host)
    assert not result["ok"] and result["step"] == "healthy through the switch on port 8000"
    assert host.files["/etc/nginx/app-active-slot.conf"] == "server 127.0.0.1:8001;\n"
    assert host.files["/var/lib/app/active-slot"] == "blue\n"
    assert "systemctl enable --now app-web@blue.service" in host.log
    assert host.log.index("gate app-web@blue.service 8001") < len(host.log) - 1 - host.log[::-1].index("/bin/sh -c nginx -t -q && systemctl reload nginx")
    assert host.log[-1] == "systemctl stop app-worker.service" or "systemctl disable --now app-web@green.service" in host.log


def test_worker_failure_reverts_web_and_worker() -> None:
    host = FakeHost(unhealthy={("app-worker.service", 0)})
    result = app_switch.switch(spec(), host)
    assert not result["ok"] and result["step"] == "worker running"
    assert host.files["/etc/app/worker.conf"] == "APP_RELEASE=R1\n"
    assert host.files["/etc/nginx/app-active-slot.conf"] == "server 127.0.0.1:8001;\n"
    # a failing worker fails the switch before any traffic moved to the new slot
    assert not any("reload nginx" in line for line in host.log)
    assert host.log[-1] == "systemctl restart app-worker.service"
    assert "systemctl disable --now app-web@green.service" in host.log


def test_first_release_on_a_host_has_no_old_slot_to_drain() -> None:
    host = FakeHost()
    host.files = {}
    result = app_switch.switch(spec(**{"from": "", "worker_old_content": ""}), host)
    assert result["ok"] and result["did"] == ["started slot green", "restarted the worker", "traffic to slot green"]
    assert host.t == 0


def test_reverting_reports_what_could_not_be_put_back() -> None:
    host = FakeHost(unhealthy={("app-web@green.service", 8000), ("app-web@blue.service", 8001)})
    result = app_switch.switch(spec(), host)
    assert not result["ok"]
    assert result["reverted"] == ["slot blue did not become healthy again: the container keeps restarting (2 restarts in 3 s)"]


def test_worker_only_switch_leaves_the_web_slots_alone() -> None:
    host = FakeHost()
    result = app_switch.switch(spec(web=False), host)
    assert result["ok"] and result["did"] == ["restarted the worker"]
    assert not any("web@" in line for line in host.log if "gate" not in line)


def test_only_nginx_workers_left_from_a_reload_count_as_busy() -> None:
    # This program's own command line (python3 -c SOURCE ...) carries the words: it must not keep the drain waiting.
    own = b"\0".join([b"python3", b"-c", Path(app_switch.__file__).read_bytes(), b"{}"])
    assert b"worker process is shutting down" in own and not app_switch.nginx_shutting_down(own)
    assert not app_switch.nginx_shutting_down(b"nginx: worker process\0\0\0")
    assert app_switch.nginx_shutting_down(b"nginx: worker process is shutting down\0\0\0")
