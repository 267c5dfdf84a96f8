"""Measurements (image size, requests during the switch, layer reuse) shown in the test summary,
so they reach the scenario log even though pytest captures the output of passing tests."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

# molecule/_shared: run_playbook(), shared by the scenarios' tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))

MEASUREMENTS: list[str] = []


@pytest.fixture
def measure() -> Callable[[str], None]:
    def record(line: str) -> None:
        print(line)
        MEASUREMENTS.append(line)

    return record


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if MEASUREMENTS:
        terminalreporter.section("app scenario measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
