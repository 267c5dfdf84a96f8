"""molecule/_shared on the path (run_playbook); figures measured by the tests, printed in the summary."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))

# name -> value, filled by the tests (digests, status codes, samples); shown after the run.
FIGURES: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.section("registry scenario figures")
    for name, value in FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
