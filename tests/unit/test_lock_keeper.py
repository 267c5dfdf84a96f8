"""The deploy lock's keeper (roles/deploy/files/lock_keeper.py): beats while the run lives, stops with it or when
the lock is no longer the run's; the state host serialises beats with release and clear (Lock._changing); the
ad hoc call carries the run's inventory sources and connection options (filter bundle_adhoc_options)."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEEPER = ROOT / "roles" / "deploy" / "files" / "lock_keeper.py"
SPEC = importlib.util.spec_from_file_location("lock_keeper", KEEPER)
assert SPEC and SPEC.loader
lock_keeper = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(lock_keeper)

sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from bundle_inputs import bundle_adhoc_options  # noqa: E402
from ansible.module_utils.bundle_ledger import LedgerError, Lock  # noqa: E402  (tests/unit/conftest.py)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run_keep(outcomes: list[str], lives: float, every: float = 10) -> tuple[str, list[float], list[str]]:
    clock, beats, lines = Clock(), [], []

    def beat() -> tuple[str, str]:
        beats.append(clock.now)
        return (outcomes.pop(0) if outcomes else "ok"), "last line"

    why = lock_keeper.keep(1, every, beat, lines.append, is_alive=lambda: clock.now < lives, clock=clock, sleep=clock.sleep)
    return why, beats, lines


def test_beats_every_interval_while_the_run_lives_and_stops_with_it() -> None:
    why, beats, lines = run_keep([], lives=45)
    assert why == "gone" and beats == [10, 20, 30, 40]
    assert lines == ["heartbeat ok: last line"] * 4


def test_a_failed_beat_is_tried_again_and_a_lost_lock_ends_the_keeper() -> None:
    why, beats, lines = run_keep(["failed", "ok", "lost"], lives=1000)
    assert why == "lost" and beats == [10, 20, 30]
    assert lines[0] == "heartbeat failed: last line" and lines[-1].startswith("heartbeat refused, the lock is no longer the run's") and lines[-1].endswith(": last line")


def test_beat_tells_a_lost_lock_from_a_passing_failure() -> None:
    py = sys.executable
    assert lock_keeper.beat([py, "-c", "print('state1 | SUCCESS')"], 10) == ("ok", "state1 | SUCCESS")
    lost = [py, "-c", "import sys; print('state1 | FAILED! => the deploy lock is no longer ours (holder now: none)'); sys.exit(2)"]
    assert lock_keeper.beat(lost, 10)[0] == "lost"
    assert lock_keeper.beat([py, "-c", "import sys; print('state1 | UNREACHABLE!'); sys.exit(4)"], 10)[0] == "failed"
    assert lock_keeper.beat(["/nonexistent/ansible"], 10)[0] == "failed"


def test_alive_knows_a_finished_process_and_a_reused_pid() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not lock_keeper.alive(child.pid, None)
    me = subprocess.os.getpid()
    assert lock_keeper.alive(me, lock_keeper.start_time(me))
    assert not lock_keeper.alive(me, "1"), "another process under a reused pid is not the run"


def test_the_keeper_detaches_beats_and_ends_with_the_run(tmp_path: Path) -> None:
    beats, log = tmp_path / "beats", tmp_path / "keeper.log"
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3.5)"])
    beat = [sys.executable, "-c", f"open({str(beats)!r}, 'a').write('beat\\n'); print('ok')"]
    start = time.monotonic()
    started = subprocess.run([sys.executable, str(KEEPER), "--pid", str(run.pid), "--every", "1", "--log", str(log), "--", *beat],
                             stdout=subprocess.PIPE, text=True, timeout=10)
    assert started.returncode == 0 and "lock keeper started" in started.stdout
    assert time.monotonic() - start < 3, "the task that starts the keeper returns at once"
    run.wait()
    deadline = time.monotonic() + 10
    while "stopped" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    text = log.read_text()
    assert "stopped: the run ended" in text, text
    assert beats.read_text().count("beat") >= 2, text


def test_a_log_over_its_limit_is_rotated_once(tmp_path: Path) -> None:
    log = tmp_path / "keeper.log"
    log.write_text("old\n" * (lock_keeper.LOG_LIMIT // 4 + 1))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert lock_keeper.main(["--pid", str(gone.pid), "--every", "1", "--log", str(log), "--foreground", "--", "true"]) == 0
    assert Path(f"{log}.1").stat().st_size > lock_keeper.LOG_LIMIT
    assert not log.exists(), "in the foreground the keeper writes to its stdout: nothing new there"


def test_beats_release_and_clear_are_one_at_a_time(tmp_path: Path) -> None:
    """A beat read before a release must not write the lock back after it, nor a release miss a file a beat replaced."""
    lock = Lock(tmp_path)
    for _ in range(30):
        taken, holder = lock.acquire({"command": "deploy"})
        assert taken
        stop = threading.Event()

        def beat() -> None:
            while not stop.is_set():
                try:
                    lock.heartbeat(holder["token"])
                except LedgerError:
                    return

        beaters = [threading.Thread(target=beat) for _ in range(3)]
        for thread in beaters:
            thread.start()
        time.sleep(0.005)
        released = lock.release(holder["token"])
        stop.set()
        for thread in beaters:
            thread.join()
        assert released and not lock.path.exists(), "released while beaten: the lock must be gone"


@pytest.mark.parametrize(("argv", "want"), [
    (["-i", "inv", "playbooks/deploy.yml", "-e", '{"a": 1}', "-v"], ["-e", '{"a": 1}']),
    (["playbooks/deploy.yml", "--extra-vars=x=1", "-uops", "--private-key", "k", "-b", "--vault-id", "prod@f"],
     ["--extra-vars=x=1", "-uops", "--private-key", "k", "-b", "--vault-id", "prod@f"]),
    (["playbooks/rollback.yml", "--check", "--diff", "-l", "app1", "--ask-vault-pass"], []),
])
def test_an_ad_hoc_beat_carries_the_runs_sources_and_connection_options(argv, want) -> None:
    assert bundle_adhoc_options(["/inv/a", "/inv/b"], argv) == ["-i", "/inv/a", "-i", "/inv/b", *want]


def test_taking_turns_writes_nothing_beside_the_lock(tmp_path: Path) -> None:
    """A run refused in its preflight still releases (and a keeper may beat): no file may appear for the turns."""
    lock = Lock(tmp_path / "state")
    assert lock.release("nobody") is False and not (tmp_path / "state").exists(), "no folder: nothing created"
    taken, holder = lock.acquire({"command": "maintenance"})
    lock.heartbeat(holder["token"])
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["deploy.lock"]
    assert lock.release(holder["token"]) and list((tmp_path / "state").iterdir()) == []


def test_a_dry_run_clear_says_what_it_would_do_and_changes_nothing(tmp_path: Path) -> None:
    lock = Lock(tmp_path)
    _, holder = lock.acquire({"command": "deploy"})
    before = lock.path.read_bytes()
    assert lock.clear(holder["token"], dry_run=True) is True and lock.path.read_bytes() == before
    with pytest.raises(LedgerError, match="changed since it was reported"):
        lock.clear("0" * 16, dry_run=True)
    assert lock.clear(holder["token"]) is True and not lock.path.exists()
