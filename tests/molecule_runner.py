#!/usr/bin/env python3
"""Run Molecule scenarios the way `make test` needs them.

Each scenario goes through create, prepare, converge, idempotence (zero changes),
a `--check --diff` converge that must also report zero changes, verify, and always
destroy. Logs go to .cache/molecule/<scenario>.log. The last line printed is
`N passed, N failed`, counting scenarios; the exit code is non-zero on any failure.
"""
from __future__ import annotations

import argparse
import json
import concurrent.futures
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=\d+\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreach>\d+)\s+failed=(?P<failed>\d+)", re.M)
# Scenarios whose idempotence converge runs at -vvv, its output kept in .cache/molecule/<name>.idempotence-vvv.log:
# the stack's secrets test greps that second converge of every role for the lab's generated secrets
# (module arguments and SSH/docker command lines show at -vvv) instead of converging again for it.
VERBOSE_IDEMPOTENCE = {"stack"}
STEPS = ("destroy", "syntax", "create", "prepare", "converge", "idempotence", "check", "verify")


@dataclass
class Result:
    scenario: str
    ok: bool
    seconds: float
    failed_step: str | None = None
    failed_output: str = ""
    steps: dict[str, float] | None = None


def discover(root: Path) -> list[str]:
    """Scenario names: folders of molecule/ holding a molecule.yml (not _shared)."""
    return sorted(p.parent.name for p in (root / "molecule").glob("*/molecule.yml") if not p.parent.name.startswith("_"))


def longest_first(root: Path, names: list[str]) -> list[str]:
    """Scenarios in the order that ends soonest with a few at a time: longest first. The last run's
    durations (.cache/molecule/durations.json) decide; without them, the number of hosts a scenario creates."""
    recorded = root / ".cache" / "molecule" / "durations.json"
    seconds = json.loads(recorded.read_text()) if recorded.exists() else {}
    hosts = {n: (root / "molecule" / n / "molecule.yml").read_text().count("- name:") for n in names}
    return sorted(names, key=lambda n: (-seconds.get(n, 0), -hosts[n], n))


def changed_hosts(output: str) -> dict[str, int]:
    """Hosts with changed>0 (or failed/unreachable) in an ansible play recap."""
    bad: dict[str, int] = {}
    for m in RECAP.finditer(output):
        total = int(m["changed"]) + int(m["failed"]) + int(m["unreach"])
        if total:
            bad[m["host"]] = total
    return bad


def run(cmd: list[str], log, env: dict[str, str]) -> tuple[int, str]:
    log.write(f"\n$ {' '.join(cmd)}\n")
    log.flush()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log.write(proc.stdout)
    log.flush()
    return proc.returncode, proc.stdout


def run_scenario(name: str, logdir: Path, env: dict[str, str]) -> Result:
    start = time.monotonic()
    logfile = logdir / f"{name}.log"
    failed: str | None = None
    failed_output = ""
    steps: dict[str, float] = {}
    with logfile.open("w") as log:
        for step in STEPS:
            began = time.monotonic()
            if step == "check":
                # dev-sec style: a check-mode converge on the converged hosts must change nothing.
                code, out = run(["molecule", "converge", "-s", name, "--", "--check", "--diff"], log, env)
                bad = changed_hosts(out)
                if not RECAP.search(out):
                    bad = {"<no play recap found>": 1}
                if code != 0 or bad:
                    log.write(f"\nCHECK MODE FAILED: exit {code}, hosts reporting changes: {bad}\n")
                    failed, failed_output = step, out + f"\nCHECK MODE FAILED: hosts reporting changes: {bad}"
                    break
                steps[step] = time.monotonic() - began
                continue
            if step == "idempotence" and name in VERBOSE_IDEMPOTENCE:
                code, out = run(["molecule", step, "-s", name], log, dict(env, ANSIBLE_VERBOSITY="3"))
                (logdir / f"{name}.idempotence-vvv.log").write_text(out)
            else:
                code, out = run(["molecule", step, "-s", name], log, env)
            steps[step] = time.monotonic() - began
            if code != 0:
                failed, failed_output = step, out
                break
        run(["molecule", "destroy", "-s", name], log, env)
    return Result(name, failed is None, time.monotonic() - start, failed, failed_output, steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("MOLECULE_JOBS", "2")),
                        help="scenarios run at once (default 2, env MOLECULE_JOBS): most of a scenario's time is waiting")
    args = parser.parse_args(argv)
    names = args.scenarios or discover(ROOT)
    unknown = sorted(set(names) - set(discover(ROOT)))
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; have: {', '.join(discover(ROOT))}", file=sys.stderr)
        return 2
    names = longest_first(ROOT, names)
    logdir = ROOT / ".cache" / "molecule"
    logdir.mkdir(parents=True, exist_ok=True)
    # molecule and ansible-playbook from the same venv as this interpreter, activated or not.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = dict(os.environ, PATH=path, PY_COLORS="0", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    results: list[Result] = []
    print(f"==> molecule: {len(names)} scenario(s), {args.jobs} at a time: {' '.join(names)}", flush=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_scenario, name, logdir, env) for name in names]
        for future in concurrent.futures.as_completed(futures):
            res = future.result()
            results.append(res)
            status = "PASSED" if res.ok else f"FAILED at {res.failed_step} (log: .cache/molecule/{res.scenario}.log)"
            print(f"    {res.scenario}: {status} in {res.seconds:.0f}s ("
                  + ", ".join(f"{step} {secs:.0f}s" for step, secs in (res.steps or {}).items()) + ")", flush=True)
            if not res.ok:
                tail = res.failed_output.splitlines()[-80:]
                print("\n".join("    | " + line for line in tail), flush=True)
    durations = logdir / "durations.json"
    known = json.loads(durations.read_text()) if durations.exists() else {}
    durations.write_text(json.dumps({**known, **{r.scenario: round(r.seconds) for r in results}}, indent=1, sort_keys=True))
    passed = sum(r.ok for r in results)
    total = sum(r.seconds for r in results)
    print(f"molecule: {len(results)} scenario(s) in {total:.0f}s: " + ", ".join(f"{r.scenario} {r.seconds:.0f}s" for r in results))
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
