import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_shared"))

# Lines the tests add (ports probed, open, filtered); printed at the end whatever pytest captured.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("firewall figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
