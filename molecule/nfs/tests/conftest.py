"""Report what the scenario measured and what it could not exercise in the pytest summary."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

# molecule/_shared/playbook.py: run_playbook / run_entrypoint, shared by every scenario's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))

REPORT: list[str] = []


@pytest.fixture
def report() -> Callable[[str], None]:
    """Add a line to the end-of-run summary (measurements, NOT EXERCISED notes)."""
    return REPORT.append


def pytest_configure(config: pytest.Config) -> None:
    # Show skip reasons (the NOT EXERCISED notes) in the short summary, not only "SKIPPED (NOT ...)".
    config.option.reportchars = (getattr(config.option, "reportchars", "") or "") + "s"


def pytest_terminal_summary(terminalreporter) -> None:
    if REPORT:
        terminalreporter.section("nfs scenario report")
        for line in REPORT:
            terminalreporter.write_line(line)
