"""Blue/green switch of one app host in one command (app role, switch.yml):
python3 -c "<this file>" HEALTH_GATE_SOURCE SPEC_JSON

SPEC_JSON (rendered by switch.yml): {image, web, from, to, slot_conf, switch_active, switch_content,
active_slot_file, units, containers, ports, app_port, health_path, timeout, restarts, stable,
drain_max, worker, worker_unit, worker_container, worker_conf, worker_content, worker_old_content}.

Steps: the image is on the host; the idle slot `to` gets its conf and starts, and the worker restarts on the
release beside it; the slot must pass the health gate (health_gate.py, polled every half second: a restart
loop or crashing workers fail it in seconds) and the worker keep running for `stable` seconds, both at once;
only then the host-local nginx switch points at the slot (nginx -t, graceful reload); it must answer through
app_port; the old slot `from` is stopped as soon as nginx holds no request for it (no worker shutting down,
no connection open to its port; at most drain_max seconds). A worker-only switch restarts and gates the worker.
Any failure puts the host back as it was before the command (old slot serving, worker on its release,
the failed slot stopped and disabled) and reports the step. The old slot's conf is kept: it names the
previous release, so a rollback starts that slot again with nothing to build or pull.
Prints one JSON line {ok, step, reason, container, image_id, did, seconds}; exits 0 either way. A switch that
has begun finishes on the host even if the controller dies (SIGHUP ignored): the host is never left half-way.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable


class Failed(Exception):
    def __init__(self, step: str, reason: str, container: str = "") -> None:
        super().__init__(reason)
        self.step, self.reason, self.container = step, reason, container


class Host:
    """What the switch does to this host; unit tests replace it with a fake."""

    def __init__(self, gate: Callable[..., dict[str, Any]], crashes: Callable[[str, float], int]) -> None:
        self._gate, self._crashes = gate, crashes

    def run(self, *argv: str) -> tuple[int, str]:
        done = subprocess.run(list(argv), capture_output=True, text=True)
        return done.returncode, (done.stdout + done.stderr).strip()

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write(self, path: str, content: str) -> None:
        temporary = f"{path}.switch-tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(content if content.endswith("\n") else content + "\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)

    def image_id(self, image: str) -> str:
        code, out = self.run("docker", "image", "inspect", "--format", "{{.Id}}", image)
        return out if code == 0 else ""

    def gate(self, unit: str, url: str, timeout: float, restarts: int, stable: float, container: str) -> dict[str, Any]:
        began = time.time() - 1
        return self._gate(unit, url, timeout, restarts, stable, crashes=lambda: self._crashes(container, began))

    def busy(self, port: int) -> int:
        """Requests nginx may still send to `port`: its workers shutting down, and connections open to the port."""
        shutting = 0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        shutting += nginx_shutting_down(handle.read())
                except OSError:
                    continue
        open_connections = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in (self.read(table) or "").splitlines()[1:]:
                fields = line.split()
                # local address ip:PORT (hex), state 01 = ESTABLISHED
                if len(fields) > 3 and fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    open_connections += 1
        return shutting + open_connections

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def clock(self) -> float:
        return time.monotonic()


def nginx_shutting_down(cmdline: bytes) -> bool:
    """An nginx worker left over from a reload, by its process title. Not any process that merely carries those
    words: this program's own source is on its command line (python3 -c), and counting it kept every drain
    waiting its whole drain_max."""
    return cmdline.startswith(b"nginx: worker process is shutting down")


def health_reason(spec: dict[str, Any], result: dict[str, Any], port: int) -> str:
    """The gate's verdict in the words of health.yml: what failed, what answered, what to change."""
    reason = result.get("reason", "")
    status = int(result.get("status") or 0)
    if port > 0 and status > 0:
        reason += (f"; {spec['health_path']} (app_health_path) answered {status} on port {port}; if your app has no such"
                   " page, set app_health_path to one that answers 200 when the app and its database work.")
    elif port > 0:
        reason += f"; nothing answered on port {port}."
    return reason


def switch(spec: dict[str, Any], host: Host) -> dict[str, Any]:
    did: list[str] = []
    start = host.clock()
    touched = {"slot": False, "traffic": False, "worker": False}
    old_switch = host.read(spec["switch_active"])
    old_active = host.read(spec["active_slot_file"])
    image_id = ""

    def systemctl(*argv: str) -> None:
        code, out = host.run("systemctl", *argv)
        if code != 0:
            raise Failed(step, f"systemctl {' '.join(argv)} failed: {out}")

    def gate(unit: str, container: str, port: int) -> dict[str, Any]:
        url = f"http://127.0.0.1:{port}{spec['health_path']}" if port > 0 else ""
        return host.gate(unit, url, float(spec["timeout"]), int(spec["restarts"]), float(spec["stable"]), container)

    def healthy(unit: str, container: str, port: int, result: dict[str, Any] | None = None) -> None:
        result = gate(unit, container, port) if result is None else result
        if not result.get("ok"):
            raise Failed(step, f"{container} did not become healthy (limit {spec['timeout']} s): {health_reason(spec, result, port)}", container)

    def restart_worker() -> None:
        nonlocal step
        step = "restart the worker (it finishes its job on SIGTERM)"
        touched["worker"] = True
        host.write(spec["worker_conf"], spec["worker_content"])
        systemctl("daemon-reload")
        systemctl("enable", spec["worker_unit"])
        systemctl("restart", spec["worker_unit"])
        did.append("restarted the worker")

    def reload_switch(content: str | None) -> None:
        if content is not None:
            host.write(spec["switch_active"], content)
        code, out = host.run("/bin/sh", "-c", "nginx -t -q && systemctl reload nginx")
        if code != 0:
            raise Failed(step, f"nginx refused the switch or its reload: {out}")

    step = "the release image is on this host"
    try:
        image_id = host.image_id(spec["image"])
        if not image_id:
            raise Failed(step, f"The image {spec['image']} is not on this host: deliver it first (deliver.yml, or playbooks/deploy.yml"
                               " which builds and delivers).")
        if spec["web"]:
            to, old = spec["to"], spec["from"]
            step = f"start slot {to}"
            touched["slot"] = True
            host.write(spec["slot_conf"], spec["slot_content"])
            systemctl("daemon-reload")
            systemctl("enable", spec["units"][to])
            systemctl("restart", spec["units"][to])
            did.append(f"started slot {to}")
            # The worker restarts beside the new slot: its stability window (`stable` seconds) runs while the slot
            # boots and answers, and traffic moves only when both passed (a failing worker never sees a request
            # routed to its release on this host).
            worker_gate: list[dict[str, Any]] = []
            waiter = None
            if spec["worker"]:
                restart_worker()
                waiter = threading.Thread(target=lambda: worker_gate.append(gate(spec["worker_unit"], spec["worker_container"], 0)))
                waiter.start()
            step = f"healthy before traffic moves to {to}"
            try:
                healthy(spec["units"][to], spec["containers"][to], int(spec["ports"][to]))
            finally:
                if waiter is not None:
                    waiter.join()
            if waiter is not None:
                step = "worker running"
                answer = worker_gate[0] if worker_gate else {"ok": False, "reason": "its gate ended without an answer"}
                healthy(spec["worker_unit"], spec["worker_container"], 0, answer)
            step = f"traffic to slot {to}"
            touched["traffic"] = True
            reload_switch(spec["switch_content"][to])
            host.write(spec["active_slot_file"], f"{to}\n")
            did.append(f"traffic to slot {to}")
            step = f"healthy through the switch on port {spec['app_port']}"
            healthy(spec["units"][to], spec["containers"][to], int(spec["app_port"]))
            if old:
                step = f"drain slot {old}"
                deadline = host.clock() + float(spec["drain_max"])
                host.sleep(0.2)
                while host.busy(int(spec["ports"][old])) and host.clock() < deadline:
                    host.sleep(0.2)
                step = f"stop slot {old}"
                systemctl("disable", "--now", spec["units"][old])
                did.append(f"stopped slot {old}")
        elif spec["worker"]:
            restart_worker()
            step = "worker running"
            healthy(spec["worker_unit"], spec["worker_container"], 0)
        return {"ok": True, "step": "", "reason": "", "container": "", "image_id": image_id, "did": did,
                "seconds": round(host.clock() - start, 1)}
    except Failed as failure:
        reverted = revert(spec, host, touched, old_switch, old_active)
        return {"ok": False, "step": failure.step, "reason": failure.reason, "container": failure.container,
                "image_id": image_id, "did": did, "reverted": reverted, "seconds": round(host.clock() - start, 1)}


def revert(spec: dict[str, Any], host: Host, touched: dict[str, bool], old_switch: str | None, old_active: str | None) -> list[str]:
    """Put the host back as it was before the command; every step is tried, what failed is reported."""
    problems: list[str] = []

    def attempt(what: str, *argv: str) -> None:
        code, out = host.run(*argv)
        if code != 0:
            problems.append(f"{what}: {out}")

    old = spec["from"]
    if touched["traffic"] and old:
        attempt(f"start slot {old}", "systemctl", "enable", "--now", spec["units"][old])
        result = host.gate(spec["units"][old], f"http://127.0.0.1:{spec['ports'][old]}{spec['health_path']}",
                           float(spec["timeout"]), int(spec["restarts"]), float(spec["stable"]), spec["containers"][old])
        if not result.get("ok"):
            problems.append(f"slot {old} did not become healthy again: {result.get('reason')}")
    if touched["traffic"] and old_switch is not None:
        host.write(spec["switch_active"], old_switch)
        attempt("switch back", "/bin/sh", "-c", "nginx -t -q && systemctl reload nginx")
        if old_active is not None:
            host.write(spec["active_slot_file"], old_active)
    if touched["slot"]:
        attempt(f"stop slot {spec['to']}", "systemctl", "disable", "--now", spec["units"][spec["to"]])
    if touched["worker"]:
        if spec.get("worker_old_content"):
            host.write(spec["worker_conf"], spec["worker_old_content"])
            attempt("worker back on its release", "systemctl", "restart", spec["worker_unit"])
        else:
            attempt("worker stopped", "systemctl", "stop", spec["worker_unit"])
    return problems


if __name__ == "__main__":
    # A switch that has begun ends on the host in a known state (switched, or put back), even when its controller
    # dies or its SSH session hangs up: the hang-up is ignored and an answer nobody reads is dropped.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    gate_module: dict[str, Any] = {"__name__": "health_gate"}
    exec(compile(sys.argv[1], "health_gate.py", "exec"), gate_module)  # noqa: S102 - the role's own file, passed by switch.yml
    outcome = switch(json.loads(sys.argv[2]), Host(gate_module["gate"], gate_module["worker_crashes"]))
    try:
        print(json.dumps(outcome), flush=True)
    except OSError:
        pass
