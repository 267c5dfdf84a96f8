"""Helpers of the maintenance scenario's tests: hosts, playbook runs, Prometheus's API from the monitor, figures.

The tests run on the controller. They reach the hosts through Molecule's inventory (testinfra), run the
operations playbooks against the scenario, and ask Prometheus over the scenario network from the monitor host.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import testinfra

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "molecule" / "_shared"))
os.environ.setdefault("BUNDLE_ROOT", str(PROJECT))

from figures import figure, print_figures  # noqa: E402,F401  (molecule/_shared/figures.py; figure is a fixture)
from playbook import run_playbook  # noqa: E402  (molecule/_shared/playbook.py)
from waiting import wait_for  # noqa: E402,F401  (molecule/_shared/waiting.py)

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
SCENARIO = Path(__file__).resolve().parents[1]
APP, DATA, MONITOR = "maint-app", "maint-data", "maint-monitor"
TEXTFILE = "/var/lib/prometheus/node-exporter"
PROMETHEUS = "http://maint-monitor:9090"
FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"


def host(name: str) -> Any:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def playbook(path: str | Path, tags: str = "", limit: str = "", timeout: int = 1800, **extra_vars: Any) -> tuple[int, str]:
    """Run a playbook (playbooks/<name>.yml when a bare name) against the scenario; (exit code, output)."""
    target = Path(path) if "/" in str(path) else PROJECT / "playbooks" / f"{path}.yml"
    args = (["--tags", tags] if tags else []) + (["--limit", limit] if limit else [])
    proc = run_playbook(target, extra_vars or None, args=args, timeout=timeout)
    return proc.returncode, proc.stdout


def tail(output: str, lines: int = 60) -> str:
    return "\n".join(output.splitlines()[-lines:])


def query(promql: str) -> list[dict[str, Any]]:
    """An instant query, asked from the monitor host over the network."""
    url = f"{PROMETHEUS}/api/v1/query?{urlencode({'query': promql})}"
    answer = json.loads(host(MONITOR).check_output(f"python3 -c {shlex.quote(FETCH)} {shlex.quote(url)}"))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def values(promql: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in query(promql)}


def metrics(name: str, job: str) -> str:
    """The textfile a job wrote on a host."""
    return host(name).file(f"{TEXTFILE}/maintenance_{job}.prom").content_string


def state(name: str, job: str) -> dict[str, Any]:
    return json.loads(host(name).file(f"/var/lib/bundle-maintenance/{job}.json").content_string)


def start_unit(name: str, job: str) -> dict[str, str]:
    """systemctl start the job's service (a oneshot: returns when it ended); its Result and exit status."""
    h = host(name)
    h.run(f"systemctl start bundle-maintenance-{job}.service")
    shown = h.check_output(f"systemctl show -p Result -p ExecMainStatus -p ActiveState bundle-maintenance-{job}.service")
    return dict(line.split("=", 1) for line in shown.splitlines())


def journal(name: str, job: str, mark: str) -> str:
    """What the job logged on a host after `mark` (journal_mark): only what came after, even within the same second."""
    return host(name).check_output(f"journalctl -q -o cat -t bundle-maintenance-{job} --after-cursor {shlex.quote(mark)} --no-pager")


def journal_mark(name: str) -> str:
    """The host journal's cursor now, for journal()."""
    out = host(name).check_output("journalctl -n 0 --show-cursor -q")
    return out.split("-- cursor: ", 1)[1].strip()


TIMERS_ACTIVE: dict[str, str] = {}


@pytest.fixture(scope="session", autouse=True)
def timers_held() -> Any:
    """The hosts' maintenance timers stay still while the tests run, so no elapse (hourly redis, a randomized
    delay) starts a job in the middle of one; each job's service is started by hand instead. Their state
    before (all active) is kept in TIMERS_ACTIVE for the first test, and they run again afterwards."""
    for name in (APP, DATA, MONITOR):
        h = host(name)
        TIMERS_ACTIVE[name] = h.check_output("systemctl is-active 'bundle-maintenance-*.timer' || true")
        h.run("systemctl stop 'bundle-maintenance-*.timer'")
    yield
    for name in (APP, DATA, MONITOR):
        host(name).run("systemctl start $(systemctl list-unit-files --no-legend 'bundle-maintenance-*.timer' | cut -d' ' -f1)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    print_figures(terminalreporter, "maintenance scenario figures")
