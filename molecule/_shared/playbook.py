"""Run a playbook against the scenario's hosts from a testinfra test.

The deploy playbooks call roles' entry points (snapshot.yml, restore.yml, ...); the tests do
the same through this helper, with the inventory Molecule generated for the scenario and the
project's roles, filters, modules and module_utils. Every scenario's tests use it.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

PROJECT = Path(__file__).resolve().parents[2]
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)", re.M)


def playbook_env(**more: str) -> dict[str, str]:
    """The environment every test's ansible-playbook runs with: the project's roles, filters, modules, module_utils."""
    return dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_FILTER_PLUGINS=str(PROJECT / "plugins" / "filter"),
        ANSIBLE_LIBRARY=str(PROJECT / "plugins" / "modules"),
        ANSIBLE_MODULE_UTILS=str(PROJECT / "plugins" / "module_utils"),
        ANSIBLE_INJECT_FACT_VARS="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=os.environ.get("ANSIBLE_CONFIG", ""),
        BUNDLE_ROOT=str(PROJECT),
        **more,
    )


def playbook_command(playbook: str | Path, extra_vars: dict[str, Any] | None = None, args: Sequence[str] = (),
                     inventory: str | Path | None = None) -> list[str]:
    """ansible-playbook with the scenario's inventory (or `inventory`), `args`, then `extra_vars` as one JSON -e."""
    cmd = ["ansible-playbook", "-i", str(inventory or Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent), str(playbook), *args]
    return cmd + (["-e", json.dumps(extra_vars)] if extra_vars else [])


def run_playbook(playbook: str | Path, extra_vars: dict[str, Any] | None = None, check: bool = False,
                 args: Sequence[str] = (), verbosity: int = 0, timeout: int = 900, inventory: str | Path | None = None,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the scenario inventory; returns the completed process (stdout and stderr in .stdout).

    `args` are more ansible-playbook arguments (e.g. ["--tags", "redis_preflight"]); `verbosity` adds -v's;
    `inventory` replaces the scenario's; `env` replaces playbook_env().
    """
    args = [*args, *(["--check"] if check else []), *(["-" + "v" * verbosity] if verbosity else [])]
    return subprocess.run(playbook_command(playbook, extra_vars, args, inventory), env=env or playbook_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)


def start_playbook(playbook: str | Path, extra_vars: dict[str, Any] | None = None, args: Sequence[str] = (),
                   output: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """The same run in the background, in its own process group (a test may kill it); `output` a file or a pipe."""
    return subprocess.Popen(playbook_command(playbook, extra_vars, args), env=playbook_env(), stdout=output,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def run_entrypoint(scenario: Path, entrypoint: str, extra_vars: dict[str, Any] | None = None,
                   **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run a role's entry point through <scenario>/entrypoints.yml; returns the process and the contract's facts
    (<role>_snapshot, _snapshots, _snapshots_removed, _restored) as the entry point left them."""
    with tempfile.TemporaryDirectory(prefix="entrypoint-facts-") as tmp:
        facts = Path(tmp) / "facts.json"
        proc = run_playbook(scenario / "entrypoints.yml",
                            {"entrypoint": entrypoint, "entrypoint_facts": str(facts), **(extra_vars or {})}, **kwargs)
        return proc, json.loads(facts.read_text()) if facts.exists() else {}


def recap_changed(output: str) -> dict[str, int]:
    """changed= per host from a play recap (the last recap line of each host wins)."""
    return {m["host"]: int(m["changed"]) for m in RECAP.finditer(output)}
