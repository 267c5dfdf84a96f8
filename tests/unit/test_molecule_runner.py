import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from molecule_runner import changed_hosts, discover  # noqa: E402

RECAP = """
PLAY RECAP *********************************************************************
redis-client               : ok=3    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
redis-server               : ok=23   changed=2    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
"""


def test_changed_hosts_reports_changes():
    assert changed_hosts(RECAP) == {"redis-server": 2}


def test_changed_hosts_counts_failures_and_unreachable():
    line = "h1 : ok=1    changed=0    unreachable=1    failed=1    skipped=0"
    assert changed_hosts(line) == {"h1": 2}


def test_converged_recap_is_clean():
    assert changed_hosts(RECAP.replace("changed=2", "changed=0")) == {}


def test_discover_skips_shared(tmp_path):
    for name in ("redis", "_shared", "nginx"):
        (tmp_path / "molecule" / name).mkdir(parents=True)
        (tmp_path / "molecule" / name / "molecule.yml").write_text("---\n")
    assert discover(tmp_path) == ["nginx", "redis"]
