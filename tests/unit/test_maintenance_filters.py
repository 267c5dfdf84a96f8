"""Unit tests of the maintenance filters (plugins/filter/maintenance.py)."""
from __future__ import annotations

import datetime
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

import maintenance  # noqa: E402

NOW = datetime.datetime(2026, 12, 1, 10, 44, tzinfo=datetime.timezone.utc)

WEEKLY = """  Original form: Sat 03:40
Normalized form: Sat *-*-* 03:40:00
    Next elapse: Sat 2026-12-05 03:40:00 UTC
       From now: 3 days left
       Iter. #2: Sat 2026-12-12 03:40:00 UTC
       From now: 1 week 3 days left
       Iter. #3: Sat 2026-12-19 03:40:00 UTC
       From now: 2 weeks 3 days left
"""
BERLIN = """    Next elapse: Sun 2027-03-28 01:30:00 CET
       (in UTC): Sun 2027-03-28 00:30:00 UTC
       Iter. #2: Mon 2027-03-29 01:30:00 CEST
       (in UTC): Sun 2027-03-28 23:30:00 UTC
       Iter. #3: Tue 2027-03-30 01:30:00 CEST
       (in UTC): Mon 2027-03-29 23:30:00 UTC
"""


def test_calendar_period_is_the_longest_gap() -> None:
    assert maintenance.maintenance_calendar_period(WEEKLY) == 7 * 86400
    assert maintenance.maintenance_calendar_period(BERLIN) == 86400
    twice = "    Next elapse: Mon 2026-12-07 03:00:00 UTC\n       Iter. #2: Thu 2026-12-10 03:00:00 UTC\n" \
            "       Iter. #3: Mon 2026-12-14 03:00:00 UTC\n"
    assert maintenance.maintenance_calendar_period(twice) == 4 * 86400
    with pytest.raises(AnsibleFilterError, match="maintenance_prune_schedule does not repeat"):
        maintenance.maintenance_calendar_period("    Next elapse: Sat 2026-12-05 03:40:00 UTC\n", "maintenance_prune_schedule")


SHOW = {
    "current": "rel-c", "last_good": "rel-g",
    "protected": ["rel-b", "rel-c", "rel-g", "rel-l"],
    "records": [
        {"release": "rel-c", "status": "good", "snapshot_id": "rel-c"},
        {"release": "rel-g", "status": "good", "snapshot_id": "rel-g"},
        {"release": "rel-l", "status": "live"},
        {"release": "rel-b", "status": "bad", "failed_at": "2026-11-30T10:00:00Z", "snapshot_id": "rel-b"},
        {"release": "rel-old", "status": "good", "snapshot_id": "rel-old"},
    ],
}


def test_protected_document() -> None:
    doc = maintenance.maintenance_protected(SHOW, 7, "deploy", now=NOW)
    assert doc["written"] == "2026-12-01T10:44:00Z" and doc["by"] == "deploy" and doc["current"] == "rel-c"
    by_release = {e["release"]: e for e in doc["releases"]}
    assert set(by_release) == {"rel-b", "rel-c", "rel-g", "rel-l"}
    assert by_release["rel-c"]["why"] == "current" and by_release["rel-g"]["why"] == "last good"
    assert by_release["rel-l"] == {"release": "rel-l", "status": "live", "why": "live", "snapshot_id": "", "until": ""}
    assert by_release["rel-b"]["until"] == "2026-12-07T10:00:00Z" and by_release["rel-b"]["why"] == "bad, kept for inspection"
    with pytest.raises(AnsibleFilterError):
        maintenance.maintenance_protected({"records": []}, 7)


def test_job_lines_and_totals() -> None:
    results = [
        {"job": "prune", "host": "db1", "result": "success", "duration": 3.21, "items": {"found": 3, "removed": 3}},
        {"job": "drill", "host": "db1", "result": "failed", "duration": 9, "items": {"found": 3}, "error": "postgres is not restorable"},
    ]
    assert maintenance.maintenance_job_totals(results) == "2 runs of 2 jobs: 1 failed, 1 success; found 6, removed 3, quarantined 0"
    assert maintenance.maintenance_job_totals(results[:1]).startswith("1 run of 1 job: 1 success")
    assert maintenance.maintenance_job_totals([]).startswith("no job ran")
    lines = maintenance.maintenance_job_lines(results)
    assert lines == ["prune on db1: SUCCESS in 3.2 s (found 3, removed 3, quarantined 0)",
                     "drill on db1: FAILED in 9.0 s (found 3, removed 0, quarantined 0): postgres is not restorable"]


TWO = WEEKLY + """
  Original form: 2030-01-01 00:00
Normalized form: 2030-01-01 00:00:00
    Next elapse: Tue 2030-01-01 00:00:00 UTC
       From now: 3 years 1 month left

  Original form: hourly
Normalized form: *-*-* *:00:00
    Next elapse: Tue 2026-12-01 16:00:00 UTC
       From now: 36min left
       Iter. #2: Tue 2026-12-01 17:00:00 UTC
       From now: 1h 36min left
"""


def test_one_calendar_call_for_every_schedule() -> None:
    schedules = {"orphans": "Sat 03:40", "redis": "hourly", "vacuum": "Sat 03:40"}
    assert maintenance.maintenance_calendar_problems(TWO, "", schedules) == []
    assert maintenance.maintenance_calendar_periods(TWO, schedules) == {"orphans": 7 * 86400, "redis": 3600, "vacuum": 7 * 86400}
    bad = {"drill": "Sat 3:99", "prune": "2030-01-01 00:00", "redis": "hourly", "vacuum": "never"}
    problems = maintenance.maintenance_calendar_problems(TWO, "Failed to parse calendar specification 'Sat 3:99': Invalid argument\n", bad)
    assert problems == [
        "maintenance_drill_schedule = 'Sat 3:99' is not a recurring systemd OnCalendar expression "
        "(Failed to parse calendar specification 'Sat 3:99': Invalid argument)",
        "maintenance_prune_schedule = '2030-01-01 00:00' is not a recurring systemd OnCalendar expression (it elapses once)",
        "maintenance_vacuum_schedule = 'never' is not a recurring systemd OnCalendar expression "
        "(systemd-analyze calendar said nothing about it)"]
    with pytest.raises(AnsibleFilterError, match="maintenance_prune_schedule does not repeat"):
        maintenance.maintenance_calendar_periods(TWO, {"prune": "2030-01-01 00:00"})


def test_schedule_textfile_keeps_install_times() -> None:
    schedules, periods = {"prune": "*-*-* 04:20", "redis": "hourly"}, {"prune": 86400, "redis": 3600}
    first = maintenance.maintenance_schedule_textfile("", schedules, periods, 1000.5)
    assert 'bundle_maintenance_period_seconds{maintenance_job="prune",schedule="*-*-* 04:20"} 86400\n' in first
    assert 'bundle_maintenance_installed_timestamp_seconds{maintenance_job="redis"} 1000\n' in first
    assert first.count("# TYPE ") == 2 and first.endswith("\n")
    # Converged again later: unchanged (the install times stay); a new job gets its own.
    assert maintenance.maintenance_schedule_textfile(first, schedules, periods, 5000) == first
    more = maintenance.maintenance_schedule_textfile(first, {**schedules, "drill": 'Sat "x"'}, {**periods, "drill": 604800}, 5000)
    assert 'installed_timestamp_seconds{maintenance_job="prune"} 1000' in more
    assert 'installed_timestamp_seconds{maintenance_job="drill"} 5000' in more
    assert 'schedule="Sat \\"x\\""' in more
