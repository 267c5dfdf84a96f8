#!/usr/bin/env python3
"""The deploy lock's keeper, on the controller: the lock's heartbeat while the run that holds it lives.

An operations run beats at each phase boundary (roles/deploy/tasks/phase.yml). A phase longer than
deploy_lock_stale_after (a large database's snapshot, a slow build) would look STALE from another controller
while it works, and a run cleared as stale would lose the lock under its own feet. Once a run holds the lock,
roles/deploy/tasks/begin.yml starts this program; it detaches at once (the task returns) and, every --every
seconds, refreshes the heartbeat with one ad hoc `bundle_lock action=heartbeat` call on the state host, with the
run's token, inventory sources and connection options. It ends
- when the run's ansible-playbook process is gone (finished, or killed): beats stop with the run, so a dead run is
  reported stale as before, by its pid on this controller at once, elsewhere after deploy_lock_stale_after;
- when the lock is no longer the run's (released at its finish, or cleared): the module refuses the token.
A beat that fails otherwise (the state host unreachable for a moment) is logged and tried again at the next one.
The state host serialises these beats with the run's own and with release and clear (Lock._changing, a
flock on the lock's folder).

    lock_keeper.py --pid PID --every SECONDS --log FILE -- COMMAND...   (COMMAND: the ad hoc call of one beat)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Callable, Sequence

LOST = "no longer ours"  # bundle_lock's refusal of a token that no longer holds the lock (module_utils/bundle_ledger.py)
LOG_LIMIT = 1_000_000  # bytes of log before it is rotated to <log>.1


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def alive(pid: int, started: str | None) -> bool:
    """The process that was pid when the keeper started still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return started is None or start_time(pid) == started


def beat(command: Sequence[str], timeout: float) -> tuple[str, str]:
    """One heartbeat: ('ok' | 'lost' | 'failed', the call's last output line)."""
    try:
        proc = subprocess.run(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "failed", f"{type(exc).__name__}: {exc}"
    lines = proc.stdout.strip().splitlines()
    last = next((line for line in lines if " | " in line), lines[-1] if lines else "")[:400]  # "<host> | SUCCESS => {"
    if proc.returncode == 0:
        return "ok", last
    return ("lost" if LOST in proc.stdout else "failed"), last


def keep(pid: int, every: float, beat_once: Callable[[], tuple[str, str]], log: Callable[[str], None],
         is_alive: Callable[[], bool] | None = None, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep, step: float = 1.0) -> str:
    """Beat every `every` seconds while the run lives; why it stopped: 'gone' (the run ended) or 'lost' (the lock)."""
    if is_alive is None:
        started = start_time(pid)
        is_alive = lambda: alive(pid, started)  # noqa: E731
    due = clock() + every
    while is_alive():
        if clock() >= due:
            outcome, last = beat_once()
            if outcome == "lost":
                # What a run that ends normally meets too: it releases the lock before its last play.
                log(f"heartbeat refused, the lock is no longer the run's (released at its end, or cleared): {last}")
                return "lost"
            log(f"heartbeat {outcome}: {last}")
            due = clock() + every
        sleep(step)
    return "gone"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pid", type=int, required=True, help="the run's ansible-playbook process")
    parser.add_argument("--every", type=float, required=True, help="seconds between two beats")
    parser.add_argument("--log", required=True, help="file the keeper appends to")
    parser.add_argument("--foreground", action="store_true", help="do not detach (tests)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the ad hoc call of one beat")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.every <= 0:
        parser.error("want --every > 0 and, after --, the command of one beat")
    os.makedirs(os.path.dirname(os.path.abspath(args.log)), exist_ok=True)
    if os.path.exists(args.log) and os.path.getsize(args.log) > LOG_LIMIT:
        os.replace(args.log, args.log + ".1")  # one older log kept: every run appends a few lines
    if not args.foreground:
        if os.fork() > 0:
            print(f"lock keeper started for pid {args.pid}, a beat every {args.every:.0f} s, log {args.log}")
            return 0
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)

    def log(line: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} keeper {os.getpid()} (run {args.pid}): {line}", flush=True)

    log(f"started, a beat every {args.every:.0f} s")
    why = keep(args.pid, args.every, lambda: beat(command, timeout=max(30.0, args.every)), log)
    log("stopped: " + ("the run ended" if why == "gone" else "the lock is no longer the run's"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
