"""Figures a scenario's tests record (what they measured, what they saw), printed at the end of the pytest run.

In a scenario's conftest.py:
    from figures import figure  # noqa: F401  (the fixture)
    from figures import print_figures
    def pytest_terminal_summary(terminalreporter): print_figures(terminalreporter, "<scenario> scenario figures")
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figure() -> Callable[[str], None]:
    """Record a line: printed now (pytest -s) and again in the end-of-run summary."""
    def record(line: str) -> None:
        print(line)
        FIGURES.append(line)
    return record


def print_figures(terminalreporter: Any, title: str) -> None:
    if FIGURES:
        terminalreporter.section(title)
        for line in FIGURES:
            terminalreporter.write_line(line)
