#!/usr/bin/env python3
"""Ansible's own settings against each other, on the same hosts in the same run: wall time of playbooks.

Each playbook runs once per setting per round, the settings taking turns (round 1: A B C, round 2: A B C, ...),
so a machine that gets slower or faster during the run weighs on every setting alike. Each setting is a set of
environment variables over the bundle's ansible.cfg; the first one named is the baseline and every other is
reported as the ratio of its median to the baseline's median. A run that fails, or a run of an idempotent
playbook that reports changes (--idempotent), is reported as such and left out of the medians.

    .venv/bin/python bench/ansible_settings.py -i INVENTORY [-e JSON] [--rounds N] [--settings a,b,...] [--idempotent] \
        [--fresh-source DIR] [--label TEXT] [--out bench/results/ansible-settings.md [--append]] PLAYBOOK [PLAYBOOK ...]

--fresh-source: every run gets a new copy of DIR (an application source) with one file of its own, passed as
app_source_dir: each deploy.yml run is then a code-only change, a new release with the build cache warm.
Each run's output is kept in .cache/bench/<time>-<round>-<setting>-<playbook>.log (profile_tasks: where it went).

Settings: linear (the bundle before Mitogen: the linear strategy, a new interpreter per task over the host's
connection, pipelining on), mitogen (Mitogen for Ansible's linear strategy: one persistent interpreter per host),
nopipelining (linear without pipelining), forks5 (linear with 5 forks instead of the configured 10/20).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from molecule_runner import changed_hosts  # noqa: E402  (the play recap as the scenario runner reads it)

SETTINGS: dict[str, dict[str, str]] = {
    "linear": {"ANSIBLE_STRATEGY": "linear"},
    "mitogen": {"ANSIBLE_STRATEGY": "mitogen_linear", "ANSIBLE_STRATEGY_PLUGINS": str(ROOT / "plugins" / "strategy")},
    "nopipelining": {"ANSIBLE_STRATEGY": "linear", "ANSIBLE_PIPELINING": "False"},
    "forks5": {"ANSIBLE_STRATEGY": "linear", "ANSIBLE_FORKS": "5"},
}


def run_once(playbook: str, inventory: str, extra: str | None, env: dict[str, str], idempotent: bool,
             log: Path) -> tuple[float, str]:
    """Seconds of one ansible-playbook run, and its outcome: ok, failed (exit N), or changed on N hosts when the
    playbook should have changed nothing (idempotent)."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, playbook, *(["-e", extra] if extra else [])]
    began = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - began
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-15:])
        print(tail, file=sys.stderr)
        return seconds, f"failed (exit {proc.returncode})"
    changed = changed_hosts(proc.stdout)
    return seconds, f"changed on {len(changed)} host(s)" if changed and idempotent else "ok"


def fresh_source(source: str, tag: str) -> str:
    """A copy of an application source that differs from every other by one file: a new release id."""
    dest = Path("/tmp") / f"bench-source-{tag}"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    (dest / "BENCH_RELEASE").write_text(tag + "\n")
    return str(dest)


def table(results: dict[tuple[str, str], list[tuple[float, str]]], playbooks: list[str], settings: list[str]) -> str:
    lines = ["| playbook | setting | runs (s) | median (s) | ratio to " + settings[0] + " |", "| --- | --- | --- | --- | --- |"]
    for pb in playbooks:
        base = [s for s, o in results[(pb, settings[0])] if o == "ok"]
        for name in settings:
            runs = results[(pb, name)]
            good = [s for s, o in runs if o == "ok"]
            med = statistics.median(good) if good else None
            ratio = f"{med / statistics.median(base):.2f}" if med and base else "n/a"
            shown = ", ".join(f"{s:.0f}" + ("" if o == "ok" else f" ({o})") for s, o in runs)
            lines.append(f"| {Path(pb).name} | {name} | {shown} | {med:.0f} | {ratio} |" if med else
                         f"| {Path(pb).name} | {name} | {shown} | n/a | n/a |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("playbooks", nargs="+")
    parser.add_argument("-i", "--inventory", required=True)
    parser.add_argument("-e", "--extra-vars", help="one JSON object passed to every run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", default="linear,mitogen", help=f"comma-separated, first is the baseline: {', '.join(SETTINGS)}")
    parser.add_argument("--idempotent", action="store_true", help="a run that reports changes is not counted (site.yml twice)")
    parser.add_argument("--fresh-source", help="an application source: each run deploys a new release of it")
    parser.add_argument("--label", default="", help="where it ran (machine, hosts, connection), written above the table")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ansible-settings.md"))
    parser.add_argument("--append", action="store_true", help="add this run's section to --out instead of replacing it")
    args = parser.parse_args(argv)
    settings = args.settings.split(",")
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {', '.join(unknown)}; have {', '.join(SETTINGS)}")
    if args.extra_vars:
        json.loads(args.extra_vars)  # a clear error here rather than ansible's after the first run
    results: dict[tuple[str, str], list[tuple[float, str]]] = {(p, s): [] for p in args.playbooks for s in settings}
    stamp = time.strftime("%H%M%S")
    for rnd in range(1, args.rounds + 1):
        for pb in args.playbooks:
            for name in settings:
                env = dict(os.environ, ANSIBLE_NOCOLOR="1", **SETTINGS[name])
                extra = args.extra_vars
                if args.fresh_source:
                    extra = json.dumps({**json.loads(extra or "{}"), "app_source_dir": fresh_source(args.fresh_source, f"{stamp}-{rnd}-{name}")})
                seconds, outcome = run_once(pb, args.inventory, extra, env, args.idempotent,
                                            ROOT / ".cache" / "bench" / f"{stamp}-{rnd}-{name}-{Path(pb).stem}.log")
                results[(pb, name)].append((seconds, outcome))
                print(f"round {rnd} {Path(pb).name} {name}: {seconds:.1f} s {outcome}", flush=True)
    out = table(results, args.playbooks, settings)
    header = (f"## {time.strftime('%Y-%m-%d %H:%M')}: {args.label or 'Ansible settings'}\n\n"
              f"`bench/ansible_settings.py --rounds {args.rounds} --settings {args.settings}`; each setting's runs in"
              " the order they ran, alternating with the others; medians of the runs that ended ok.\n\n")
    out_file = Path(args.out)
    before = out_file.read_text() + "\n" if args.append and out_file.exists() else "# Ansible settings against each other\n\n"
    out_file.write_text(before + header + out + "\n")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
