"""Run a playbook against the scenario's hosts from a testinfra test.

The deploy playbooks call roles' entry points (snapshot.yml, restore.yml, ...); the tests do
the same through this helper, with the inventory Molecule generated for the scenario.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def run_playbook(playbook: str | Path, extra_vars: dict | None = None, check: bool = False) -> subprocess.CompletedProcess:
    """ansible-playbook with the scenario inventory; returns the completed process (output in .stdout)."""
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    env = dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(PROJECT / "roles"),
        ANSIBLE_FILTER_PLUGINS=str(PROJECT / "plugins" / "filter"),
        ANSIBLE_LIBRARY=str(PROJECT / "plugins" / "modules"),
        ANSIBLE_INJECT_FACT_VARS="False",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_CONFIG=os.environ.get("ANSIBLE_CONFIG", ""),
    )
    cmd = ["ansible-playbook", "-i", str(inventory), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd += ["--check"]
    return subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
