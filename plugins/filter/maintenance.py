"""Filters of the maintenance role and of the operations playbooks, run on the controller.

maintenance_protected:       the release ledger's protected list as the document hosts keep in
                             /var/lib/bundle/protected.json (what prune never removes, and until when)
maintenance_calendar_period: the longest gap (seconds) between the elapses `systemd-analyze calendar
                             --iterations=N` prints: a job's period, for the overdue alert
maintenance_calendar_problems, maintenance_calendar_periods: the same for every job's schedule from one
                             `systemd-analyze calendar` of them all: what is wrong (naming the variable), each period
maintenance_schedule_textfile: node exporter's textfile of the jobs' periods and when each timer was installed
maintenance_job_lines:       one line per host and job from the results the playbook collected
maintenance_job_totals:      the same results in one line for the summary
"""
from __future__ import annotations

import datetime
import re
from typing import Any, Mapping, Sequence

from ansible.errors import AnsibleFilterError

ELAPSE = re.compile(r"^\s*(?:Next elapse|Iter\. #\d+):\s+\S+\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")
ELAPSE_UTC = re.compile(r"^\s*\(in UTC\):\s+\S+\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def _parse(text: Any) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(datetime.timezone.utc)
    except ValueError as exc:
        raise AnsibleFilterError(f"maintenance_protected: {text!r} is not an ISO 8601 time") from exc


def maintenance_protected(show: Mapping[str, Any], keep_bad_days: Any, by: str = "",
                          now: datetime.datetime | None = None) -> dict[str, Any]:
    """The document of /var/lib/bundle/protected.json from a `bundle_ledger: action=show` result.

    One entry per release the ledger protects (current, last good, unfinished, live, bad and younger
    than keep_bad_days), with why, the snapshot bound to it (its snapshot_id) and, for a bad release,
    until when it is kept (failed_at + keep_bad_days): a host reading the file later lets it go then.
    """
    if not isinstance(show, Mapping) or "protected" not in show:
        raise AnsibleFilterError("maintenance_protected needs the result of bundle_ledger action=show")
    days = float(keep_bad_days)
    records = {r.get("release"): r for r in show.get("records") or [] if isinstance(r, Mapping)}
    current, last_good = str(show.get("current") or ""), str(show.get("last_good") or "")
    entries = []
    for release in show.get("protected") or []:
        record = records.get(release, {})
        status = str(record.get("status", ""))
        why = [w for w, holds in (("current", release == current), ("last good", release == last_good),
                                  (status, status in ("unfinished", "live"))) if holds]
        until = ""
        if status == "bad":
            failed = record.get("failed_at") or record.get("updated") or record.get("created")
            until = _iso(_parse(failed) + datetime.timedelta(days=days))
            why.append("bad, kept for inspection")
        entries.append({"release": release, "status": status, "why": ", ".join(why) or status,
                        "snapshot_id": str(record.get("snapshot_id") or ""), "until": until})
    return {"schema": 1, "written": _iso(now or datetime.datetime.now(datetime.timezone.utc)), "by": by,
            "current": current, "last_good": last_good, "keep_bad_days": days, "releases": entries}


def maintenance_calendar_period(text: str, variable: str = "the schedule") -> int:
    """Seconds of the longest gap between consecutive elapses of `systemd-analyze calendar --iterations=N`.

    Times in UTC are used when systemd prints them (a local time zone with daylight saving time).
    """
    lines = str(text).splitlines()
    found = [m.group(1) for m in map(ELAPSE_UTC.match, lines) if m] or [m.group(1) for m in map(ELAPSE.match, lines) if m]
    moments = [datetime.datetime.strptime(t, "%Y-%m-%d %H:%M:%S") for t in found]
    if len(moments) < 2:
        raise AnsibleFilterError(f"{variable} does not repeat (systemd-analyze calendar found {len(moments)} elapse): "
                                 "a maintenance job needs a recurring OnCalendar expression")
    return int(max((b - a).total_seconds() for a, b in zip(moments, moments[1:])))


FAILED_SPEC = re.compile(r"Failed to parse calendar specification '(.*)'")
ORIGINAL = re.compile(r"^\s*Original form: (.*)$")


def _calendar_blocks(text: str) -> dict[str, str]:
    """`systemd-analyze calendar A B ...` output -> {expression as given: its block}."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in str(text).splitlines():
        match = ORIGINAL.match(line)
        if match:
            current = blocks.setdefault(match.group(1).strip(), [])
        elif current is not None:
            current.append(line)
    return {expr: "\n".join(lines) for expr, lines in blocks.items()}


def maintenance_calendar_problems(stdout: str, stderr: str, schedules: Mapping[str, str]) -> list[str]:
    """What is wrong with each job's schedule ({job: OnCalendar expression}), from one `systemd-analyze calendar
    --iterations=N` of them all; one message per bad schedule, naming its variable; [] when every one repeats."""
    refused = {m.group(1): line for line in str(stderr).splitlines() if (m := FAILED_SPEC.search(line))}
    blocks = _calendar_blocks(stdout)
    problems = []
    for job, given in schedules.items():
        variable, expression = f"maintenance_{job}_schedule", str(given).strip()
        if expression in refused:
            why = refused[expression].strip()
        elif expression not in blocks:
            why = "systemd-analyze calendar said nothing about it"
        elif len([m for m in map(ELAPSE.match, blocks[expression].splitlines()) if m]) < 2:
            why = "it elapses once"
        else:
            continue
        problems.append(f"{variable} = '{expression}' is not a recurring systemd OnCalendar expression ({why})")
    return problems


def maintenance_calendar_periods(stdout: str, schedules: Mapping[str, str]) -> dict[str, int]:
    """{job: period in seconds} from one `systemd-analyze calendar --iterations=N` of every job's schedule."""
    blocks = _calendar_blocks(stdout)
    return {job: maintenance_calendar_period(blocks.get(str(expression).strip(), ""), f"maintenance_{job}_schedule")
            for job, expression in schedules.items()}


INSTALLED = re.compile(r'^bundle_maintenance_installed_timestamp_seconds\{maintenance_job="(\w+)"\} (\d+)', re.M)


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def maintenance_schedule_textfile(existing: str, schedules: Mapping[str, str], periods: Mapping[str, int],
                                  now: Any) -> str:
    """The textfile maintenance_schedule.prom: each job's period (from its schedule) and when its timer was installed.

    A job already in `existing` (the file as it is on the host, '' when there is none) keeps its install time, so
    the file only changes when a schedule or the set of jobs does; a new job gets `now` (epoch seconds).
    """
    installed = {job: int(stamp) for job, stamp in INSTALLED.findall(str(existing or ""))}
    jobs = list(schedules)
    lines = ["# HELP bundle_maintenance_period_seconds Longest gap between two elapses of the job's timer (its OnCalendar schedule).",
             "# TYPE bundle_maintenance_period_seconds gauge"]
    lines += [f'bundle_maintenance_period_seconds{{maintenance_job="{job}",schedule="{_label(schedules[job])}"}} {int(periods[job])}'
              for job in jobs]
    lines += ["# HELP bundle_maintenance_installed_timestamp_seconds When the job's timer was installed (overdue alert before a first success).",
              "# TYPE bundle_maintenance_installed_timestamp_seconds gauge"]
    lines += [f'bundle_maintenance_installed_timestamp_seconds{{maintenance_job="{job}"}} {installed.get(job, int(float(now)))}'
              for job in jobs]
    return "\n".join(lines) + "\n"


def maintenance_job_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """'prune on db1: SUCCESS in 3.2 s (found 3, removed 3, quarantined 0)' per result of the program (--json)."""
    lines = []
    for r in results:
        items = r.get("items") or {}
        counts = ", ".join(f"{k} {items.get(k, 0)}" for k in ("found", "removed", "quarantined"))
        lines.append(f"{r.get('job', '?')} on {r.get('host', '?')}: {str(r.get('result', '?')).upper()} in "
                     f"{float(r.get('duration', 0)):.1f} s ({counts})" + (f": {r['error']}" if r.get("error") else ""))
    return lines


def maintenance_job_totals(results: Sequence[Mapping[str, Any]]) -> str:
    """'6 runs of 5 jobs: 6 success; found 3, removed 0, quarantined 0' over the results of the program (--json)."""
    if not results:
        return "no job ran (none of the tags applies to a host of this inventory)"
    outcome: dict[str, int] = {}
    for r in results:
        outcome[str(r.get("result", "?"))] = outcome.get(str(r.get("result", "?")), 0) + 1
    counts = ", ".join(f"{k} {sum(int((r.get('items') or {}).get(k, 0)) for r in results)}" for k in ("found", "removed", "quarantined"))
    jobs = len({r.get("job") for r in results})
    return (f"{len(results)} run{'s' if len(results) != 1 else ''} of {jobs} job{'s' if jobs != 1 else ''}: "
            + ", ".join(f"{n} {k}" for k, n in sorted(outcome.items())) + f"; {counts}")


class FilterModule:
    """maintenance_protected, maintenance_calendar_period(s), maintenance_calendar_problems, maintenance_schedule_textfile,
    maintenance_job_lines, maintenance_job_totals."""

    def filters(self) -> dict[str, Any]:
        return {
            "maintenance_protected": maintenance_protected,
            "maintenance_calendar_period": maintenance_calendar_period,
            "maintenance_calendar_periods": maintenance_calendar_periods,
            "maintenance_calendar_problems": maintenance_calendar_problems,
            "maintenance_schedule_textfile": maintenance_schedule_textfile,
            "maintenance_job_lines": maintenance_job_lines,
            "maintenance_job_totals": maintenance_job_totals,
        }
