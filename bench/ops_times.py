#!/usr/bin/env python3
"""Deploy and rollback times of one stack-scenario run, as ratios to a baseline of the same run.

The stack scenario keeps the output of every operations playbook its tests run in
.cache/molecule/stack-runs/<stamp>-<n>-<playbook>.log. This reads the newest run (or --stamp), takes the
summary each playbook printed last (command, release, result, duration, phases, maintenance window) and
writes a table to bench/results/ops-times.md (and prints it). The baseline is the run's first successful
deploy; every other run is reported as a ratio to it, so figures from machines of different speeds compare.

    .venv/bin/python bench/ops_times.py [--stamp HHMMSS] [--out bench/results/ops-times.md] [--before FILE]

--before: an earlier results file of this script (e.g. from git history, before a change): each kind of
operation (command and outcome: a successful deploy, a rollback with or without data, a refusal, a failed
deploy) is compared with the same kind there, median against median, as a ratio.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / ".cache" / "molecule" / "stack-runs"
HEADLINE = re.compile(r'"(DEPLOY|ROLLBACK|SNAPSHOT) (\S*) on \S+: ([^"]+)"')
DURATION = re.compile(r'"Duration: (\d+) s"')
PHASES = re.compile(r'"Phases: ([^"]*)"')
WINDOW = re.compile(r"maintenance window (\d+) s")


@dataclass
class Run:
    name: str
    command: str
    release: str
    result: str
    seconds: int
    phases: str
    window: int | None


def parse(path: Path) -> Run | None:
    text = path.read_text(errors="replace")
    head, duration = list(HEADLINE.finditer(text)), list(DURATION.finditer(text))
    if not head or not duration:
        return None
    command, release, result = head[-1].groups()
    phases = PHASES.findall(text)
    window = WINDOW.findall(text)
    return Run(path.stem, command.lower(), release, result, int(duration[-1].group(1)),
               re.sub(r"\s+", " ", phases[-1]) if phases else "", int(window[-1]) if window else None)


def newest_stamp() -> str:
    stamps = sorted({p.name.split("-", 1)[0] for p in RUNS.glob("*-*-*.log") if p.name[:6].isdigit()},
                    key=lambda s: max(p.stat().st_mtime for p in RUNS.glob(f"{s}-*.log")))
    if not stamps:
        sys.exit(f"no stack-scenario run logs in {RUNS}: run the stack scenario first")
    return stamps[-1]


def table(runs: list[Run]) -> str:
    baseline = next((r for r in runs if r.command == "deploy" and r.result == "SUCCESS"), None)
    if baseline is None:
        sys.exit("no successful deploy in this run: nothing to compare with")
    lines = [f"Baseline: the first successful deploy ({baseline.name}), {baseline.seconds} s.", "",
             "| run | command | result | seconds | ratio to baseline | maintenance window | phases |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in runs:
        window = f"{r.window} s" if r.window is not None else ""
        lines.append(f"| {r.name} | {r.command} | {r.result} | {r.seconds} | {r.seconds / baseline.seconds:.2f} | {window} | {r.phases} |")
    return "\n".join(lines) + "\n"


def kind(command: str, result: str, window: str) -> str:
    """What an operation was, for comparing runs: command and outcome (with data when it had a maintenance window)."""
    outcome = result.split(",")[0].split(" in ")[0].strip()
    outcome = "FAILED" if outcome.startswith("FAILED") else outcome
    return f"{command} {outcome}{' with data' if window.strip() else ''}"


def rows_of(text: str) -> list[tuple[str, int]]:
    """(kind, seconds) of every row of a results table."""
    found = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 7 and cells[3].isdigit():
            found.append((kind(cells[1], cells[2], cells[5]), int(cells[3])))
    return found


def comparison(now: list[tuple[str, int]], before: list[tuple[str, int]]) -> str:
    def median(values: list[int]) -> float:
        values = sorted(values)
        return (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2
    lines = ["| operation | runs before | median before (s) | runs now | median now (s) | now / before |", "| --- | --- | --- | --- | --- | --- |"]
    for name in sorted({k for k, _ in now} & {k for k, _ in before}):
        a, b = [s for k, s in before if k == name], [s for k, s in now if k == name]
        lines.append(f"| {name} | {len(a)} | {median(a):.0f} | {len(b)} | {median(b):.0f} | {median(b) / median(a):.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stamp", help="the run's stamp (first part of the log names); default: the newest")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ops-times.md")
    parser.add_argument("--before", type=Path, help="an earlier results file of this script, to compare with")
    args = parser.parse_args(argv)
    stamp = args.stamp or newest_stamp()
    runs = [r for p in sorted(RUNS.glob(f"{stamp}-*.log")) if (r := parse(p))]
    text = f"# Deploy and rollback times, stack scenario run {stamp}\n\n" + table(runs)
    if args.before:
        # Only that run's own table: a results file made with --before also holds the run it was compared with.
        before = args.before.read_text().split("\n## Against ")[0].rstrip() + "\n"
        text += (f"\n## Against {before.splitlines()[0].lstrip('# ')} (--before {args.before.name})\n\n"
                 + comparison(rows_of(text), rows_of(before)) + "\n### That run\n\n" + before.split("\n", 2)[2])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
