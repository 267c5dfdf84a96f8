"""The app role's health gate (roles/app/files/health_gate.py) with a fake unit, probe and clock: healthy
when the path answers 200, failed in seconds when the container keeps restarting, at the deadline otherwise."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("health_gate", Path(__file__).resolve().parents[2] / "roles" / "app" / "files" / "health_gate.py")
assert SPEC and SPEC.loader
health_gate = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(health_gate)


class Fake:
    """A unit whose (state, restarts) and HTTP answers follow scripts indexed by half-second ticks."""

    def __init__(self, states: list[tuple[str, int]], answers: list[int] | None = None) -> None:
        self.t = 0.0
        self.states, self.answers = states, answers or [0]

    def tick(self) -> int:
        return int(self.t * 2)

    def state(self, unit: str) -> tuple[str, int]:
        return self.states[min(self.tick(), len(self.states) - 1)]

    def probe(self, url: str) -> int:
        return self.answers[min(self.tick(), len(self.answers) - 1)]

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def run(self, url: str = "http://127.0.0.1:8001/health", timeout: float = 90, stable: float = 5) -> dict:
        return health_gate.gate("app-web@blue.service", url, timeout, 2, stable, self.state, self.probe, lambda: self.t, self.sleep)


def test_healthy_when_the_path_answers_200() -> None:
    fake = Fake([("activating", 0)] * 2 + [("active", 0)], [0, 0, 0, 503, 200])
    result = fake.run()
    assert result["ok"] and result["seconds"] == 2.0


def test_a_container_that_crashes_on_start_fails_in_seconds_not_at_the_deadline() -> None:
    # systemd restarts it every 3 s (RestartSec=3): two restarts are seen after about 6 s
    states = [("activating", 0)] * 6 + [("activating", 1)] * 6 + [("activating", 2)]
    result = Fake(states).run()
    assert not result["ok"] and "keeps restarting" in result["reason"] and result["seconds"] <= 7


def test_restarts_before_the_gate_do_not_count() -> None:
    result = Fake([("active", 7)], [200]).run()
    assert result["ok"] and result["restarts"] == 0


def test_a_port_that_never_answers_fails_at_the_deadline() -> None:
    result = Fake([("active", 0)], [0]).run(timeout=10)
    assert not result["ok"] and "within 10 s" in result["reason"] and result["seconds"] == 10.0


def test_a_stopped_unit_fails_at_once() -> None:
    result = Fake([("activating", 0)] * 3 + [("failed", 0)]).run()
    assert not result["ok"] and "not running" in result["reason"] and result["seconds"] < 3


def test_without_a_url_the_container_must_run_for_a_while_without_a_restart() -> None:
    fake = Fake([("activating", 0), ("active", 0)])
    result = fake.run(url="", stable=5)
    assert result["ok"] and 5 <= result["seconds"] <= 6
    flapping = Fake([("active", 0)] * 4 + [("activating", 1)] * 4 + [("active", 1)] * 4 + [("activating", 2)])
    assert not flapping.run(url="", stable=5)["ok"]


def test_workers_that_keep_crashing_behind_a_live_master_fail_in_seconds() -> None:
    """gunicorn's master stays up and boots new workers: systemd sees no restart, the journal does."""
    fake = Fake([("active", 0)], [0])
    lost = iter(range(100))
    result = health_gate.gate("app-web@green.service", "http://127.0.0.1:8002/health", 90, 2, 5, fake.state, fake.probe,
                              lambda: fake.t, fake.sleep, crashes=lambda: next(lost))
    assert not result["ok"] and "workers keep crashing" in result["reason"] and result["seconds"] <= 2.5


def test_the_crash_lines_are_gunicorns() -> None:
    lines = ("[ERROR] Worker (pid:1564) exited with code 1.\n[INFO] Worker exiting (pid: 1565)\n"
             "[ERROR] Worker (pid:7) was sent SIGKILL! Perhaps out of memory?\n[INFO] Booting worker with pid: 1565\n")
    assert len(health_gate.WORKER_CRASH.findall(lines)) == 2
