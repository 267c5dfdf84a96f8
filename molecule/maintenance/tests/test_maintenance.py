"""Scheduled maintenance on a running stack: the jobs by playbook and by timer, their metrics in Prometheus.

maint-app runs docshare (converged by playbooks/app.yml), maint-data PostgreSQL, Redis and the NFS server,
maint-monitor Prometheus. The tests run in file order and build on each other: timers installed where their
jobs apply and a bad schedule refused before any change; orphans both ways reported, then moved to the
quarantine and an old quarantine purged; prune against a ledger of live, good and bad releases; vacuum and the
Redis check; the restore drill seen in Prometheus, a corrupted snapshot turning it to 0 and its alert firing;
jobs waiting for and skipping a deploy's lock, a deploy refusing while a job runs; each timer's service started
by hand, checked in its journal and its metrics.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

from conftest import (APP, DATA, MONITOR, PROJECT, SCENARIO, TIMERS_ACTIVE, host, journal, metrics, now_on, playbook, query,
                      start_unit, state, tail, values, wait_for)

DOCS = "/srv/nfs/documents"
STATE_ROOT = "/var/lib/bundle/docshare"
ROOTS = {"postgres": "/var/backups/bundle/postgres", "redis": "/var/backups/bundle/redis", "nfs": "/var/backups/bundle/nfs"}
JOBS_ON = {APP: {"orphans", "prune"}, DATA: {"prune", "vacuum", "redis", "drill"}, MONITOR: set()}
SEEN: dict[str, str] = {}


def psql(sql: str) -> str:
    return host(DATA).check_output(f"runuser -u postgres -- psql -XAtq -d docshare -c {json.dumps(sql)}")


def items(text: str, job: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(rf'bundle_maintenance_items{{kind="(\w+)",maintenance_job="{job}"}} (\d+)', text)}


def sealed(root: str) -> set[str]:
    out = host(DATA).check_output(f"for d in {root}/*/; do [ -f \"$d/meta.json\" ] && basename \"$d\"; done; true")
    return set(out.split())


def newest(root: str) -> str:
    """The newest sealed snapshot under root (by `created` in meta.json), as the drill picks it."""
    code = ("import glob, json, sys; metas = [json.load(open(f)) for f in glob.glob(sys.argv[1] + '/*/meta.json')]; "
            "print(max(metas, key=lambda m: m['created'])['id'])")
    return host(DATA).check_output(f"python3 -c {json.dumps(code)} {root}")


def utc_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_run_marker(release: str) -> None:
    marker = {"command": "deploy", "release": release, "operator": "tester", "controller": "ci", "pid": 1,
              "started": utc_iso(), "environment": "maintenance"}
    host(DATA).check_output(f"mkdir -p /var/lib/bundle && echo {json.dumps(json.dumps(marker))} > /var/lib/bundle/run.json")


# --- timers ----------------------------------------------------------------------------------------
def test_timers_are_installed_where_their_jobs_apply(figure):
    for name, jobs in JOBS_ON.items():
        listed = host(name).check_output("systemctl list-timers --all --no-pager 'bundle-maintenance-*'")
        assert set(re.findall(r"bundle-maintenance-(\w+)\.timer", listed)) == jobs, listed
        assert TIMERS_ACTIVE[name].split() == ["active"] * len(jobs), TIMERS_ACTIVE  # before the tests held them still
        figure(f"{name}: systemctl list-timers shows {', '.join(sorted(jobs)) or 'no maintenance timer'}")
    orphans = host(APP).check_output("systemctl show -p TimersCalendar -p Persistent -p RandomizedDelayUSec bundle-maintenance-orphans.timer")
    assert "OnCalendar=Sat *-*-* 03:40:00" in orphans and "Persistent=yes" in orphans, orphans
    drill = host(DATA).check_output("systemctl show -p RandomizedDelayUSec bundle-maintenance-drill.timer; "
                                    "systemctl show -p TimeoutStartUSec bundle-maintenance-drill.service")
    assert "RandomizedDelayUSec=30min" in drill and "TimeoutStartUSec=1h 1min" in drill, drill
    periods = wait_for("the schedules' periods in Prometheus", lambda: values("bundle_maintenance_period_seconds", "maintenance_job")
                       if len(query("bundle_maintenance_period_seconds")) == 6 else None)
    assert periods == {"orphans": 604800, "prune": 86400, "vacuum": 604800, "redis": 3600, "drill": 86400}, periods


def test_a_bad_schedule_fails_in_preflight_naming_its_variable():
    unit = "/etc/systemd/system/bundle-maintenance-drill.timer"
    before = host(DATA).file(unit).md5sum
    code, out = playbook("maintenance_timers", limit=DATA, maintenance_drill_schedule="Sat 3:99")
    assert code != 0, tail(out)
    assert "maintenance_drill_schedule = 'Sat 3:99' is not a recurring systemd OnCalendar expression" in out, tail(out)
    assert re.search(r"maint-data\s+:\s+ok=\d+\s+changed=0\s", out), tail(out, 12)
    assert host(DATA).file(unit).md5sum == before


# --- orphans ---------------------------------------------------------------------------------------
def test_orphans_are_reported_with_counts_and_paths_and_nothing_moves(figure):
    monitor = host(MONITOR)
    monitor.check_output("echo 'a row whose file goes missing' > /tmp/orphan-row.txt")
    doc = json.loads(monitor.check_output("curl -sSf -F file=@/tmp/orphan-row.txt http://maint-app:8000/api/documents"))
    stored = psql(f"SELECT stored_name FROM documents WHERE id = {int(doc['id'])}")
    data = host(DATA)
    data.check_output(f"rm {DOCS}/{stored}")
    orphan, partial = f"{uuid.uuid4().hex}.txt", f".upload-{uuid.uuid4().hex}.part"
    for name in (orphan, partial):
        data.check_output(f"echo stray > {DOCS}/{name} && chown 10001:10001 {DOCS}/{name} && touch -d '3 hours ago' {DOCS}/{name}")
    # An old quarantine folder, as a deleting run would have left it weeks ago.
    old = f"{DOCS}/.quarantine/2020-01-01/{uuid.uuid4().hex}.txt"
    data.check_output(f"install -d -o 10001 -g 10001 -m 2770 {DOCS}/.quarantine {DOCS}/.quarantine/2020-01-01 && "
                      f"echo old > {old} && chown 10001:10001 {old}")
    SEEN.update(doc_id=str(doc["id"]), stored=stored, orphan=orphan, partial=partial)

    code, out = playbook("maintenance", tags="orphans")
    assert code == 0, tail(out)
    assert f"{DOCS}/{orphan}" in out and f"{DOCS}/{partial}" in out, tail(out)
    assert f"row {doc['id']}: {DOCS}/{stored} is missing" in out, tail(out)
    assert "report only: nothing deleted or moved" in out and "older than 14 days: 2020-01-01" in out
    for name in (orphan, partial, ".quarantine/2020-01-01"):
        assert data.file(f"{DOCS}/{name}").exists, f"a report-only run touched {name}"
    assert psql(f"SELECT count(*) FROM documents WHERE id = {int(doc['id'])}") == "1"
    text = metrics(APP, "orphans")
    assert items(text, "orphans") == {"found": 3, "removed": 0, "quarantined": 0}, text
    assert 'bundle_maintenance_last_success{maintenance_job="orphans"} 1' in text
    figure(f"orphans report: {items(text, 'orphans')} (a file without a row, a row without a file, an abandoned upload)")


def test_deleting_moves_files_to_the_dated_quarantine_and_purges_old_ones(figure):
    data = host(DATA)
    code, out = playbook("maintenance", tags="orphans", maintenance_delete=True)
    assert code == 0, tail(out)
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    for name in (SEEN["orphan"], SEEN["partial"]):
        assert not data.file(f"{DOCS}/{name}").exists and data.file(f"{DOCS}/.quarantine/{today}/{name}").exists, name
    assert psql(f"SELECT count(*) FROM documents WHERE id = {int(SEEN['doc_id'])}") == "0", "the row without a file is deleted"
    assert not data.file(f"{DOCS}/.quarantine/2020-01-01").exists, "a quarantine older than maintenance_quarantine_days is purged"
    text = metrics(APP, "orphans")
    assert items(text, "orphans") == {"found": 3, "removed": 2, "quarantined": 2}, text
    assert f"purged {DOCS}/.quarantine/2020-01-01 (1 files" in out
    figure(f"orphans delete: {items(text, 'orphans')} (2 files to .quarantine/{today}/, 1 row deleted, 1 old quarantined file purged)")


# --- prune -----------------------------------------------------------------------------------------
def test_prune_keeps_live_good_and_recent_bad_releases(figure):
    code, out = playbook(SCENARIO / "seed.yml")
    assert code == 0, tail(out)
    code, out = playbook("snapshot")
    assert code == 0, tail(out)
    newest = re.search(r"Snapshot: (snap-\S+) \(", out).group(1)  # type: ignore[union-attr]
    current = json.loads(host(DATA).file(f"{STATE_ROOT}/current.json").content_string)["release"]
    SEEN.update(current=current, newest=newest)
    for service, root in ROOTS.items():
        assert sealed(root) == {"m-rolled", "m-bad-old", "m-good-a", "m-good-b", "m-bad-new", "m-live", newest}, service

    code, out = playbook("maintenance", tags="prune", maintenance_keep_snapshots=1, maintenance_keep_images=1)
    assert code == 0, tail(out)
    for service, root in ROOTS.items():
        # protected: the last good, the live one and the bad one younger than maintenance_keep_bad_days; kept: the newest other
        assert sealed(root) == {"m-good-b", "m-live", "m-bad-new", newest}, (service, tail(out))
    tags = set(host(APP).check_output("docker image ls --format '{{.Tag}}' docshare").split())
    assert tags == {current, "m-good-b", "m-live", "m-bad-new", "m-good-a"}, tags
    data_items, app_items = items(metrics(DATA, "prune"), "prune"), items(metrics(APP, "prune"), "prune")
    assert data_items["removed"] == 9 and app_items["removed"] == 2, (data_items, app_items)
    for name in (APP, DATA, MONITOR):
        doc = json.loads(host(name).file("/var/lib/bundle/protected.json").content_string)
        why = {r["release"]: r["why"] for r in doc["releases"]}
        assert why == {current: "current", "m-good-b": "last good", "m-live": "live", "m-bad-new": "bad, kept for inspection"}, why
    figure(f"prune (keep 1): snapshots removed on maint-data {data_items['removed']} (3 per service: m-good-a m-bad-old m-rolled), "
           f"images removed on maint-app {app_items['removed']} (m-bad-old m-rolled); kept: {current} (current), m-good-b, "
           f"m-live, m-bad-new, newest {newest}")


def test_the_prune_timer_reads_the_protected_list_the_deploy_role_left(figure):
    for name in (DATA, APP):
        since = now_on(name)
        result = start_unit(name, "prune")
        assert result["Result"] == "success" and result["ExecMainStatus"] == "0", result
        text = journal(name, "prune", since)
        assert f"RESULT prune on {name}: SUCCESS" in text and "/var/lib/bundle/protected.json, written" in text, text
    assert sealed(ROOTS["postgres"]) == {"m-good-b", "m-live", "m-bad-new", SEEN["newest"]}


# --- vacuum and redis ------------------------------------------------------------------------------
def test_vacuum_reports_sizes(figure):
    code, out = playbook("maintenance", tags="vacuum")
    assert code == 0, tail(out)
    assert "VACUUM (ANALYZE) of" in out and "public.documents" in out, tail(out)
    size = wait_for("the database size in Prometheus", lambda: values('bundle_postgres_database_size_bytes{database="docshare"}', "database"))
    dead = re.search(r"dead tuples \d+ -> \d+", out)
    figure(f"vacuum: docshare is {size['docshare'] / 1048576:.1f} MiB; {dead.group(0) if dead else ''}")


def test_redis_saves_and_rewrites_its_aof(figure):
    code, out = playbook("maintenance", tags="redis")
    assert code == 0, tail(out)
    assert "BGSAVE: ok" in out and "AOF: last rewrite ok" in out, tail(out)
    text = metrics(DATA, "redis")
    assert "bundle_redis_bgsave_ok 1" in text and "bundle_redis_aof_rewrite_ok 1" in text, text
    saved = re.search(r"last save before this job: [^\"]*", out)
    figure("redis: " + (saved.group(0) if saved else "?"))


# --- drill -----------------------------------------------------------------------------------------
def test_drill_restores_every_service_and_prometheus_sees_it(figure):
    code, out = playbook("maintenance", tags="drill")
    assert code == 0, tail(out)
    def all_restorable() -> dict[str, float] | None:
        found = values("bundle_snapshot_restorable", "service")
        return found if len(found) == 3 and all(found.values()) else None

    restorable = wait_for("bundle_snapshot_restorable of the three services", all_restorable)
    assert restorable == {"postgres": 1, "redis": 1, "nfs": 1}
    snapshots = {r["metric"]["service"]: r["metric"]["snapshot"] for r in query("bundle_snapshot_restorable")}
    assert snapshots == {service: newest(root) for service, root in ROOTS.items()}, snapshots
    durations = values("bundle_snapshot_restore_duration_seconds", "service")
    figure("drill: restorable " + ", ".join(f"{s} {int(v)}" for s, v in sorted(restorable.items()))
           + "; restore durations " + ", ".join(f"{s} {v:.1f} s" for s, v in sorted(durations.items())))


def test_a_corrupted_snapshot_becomes_not_restorable_and_its_alert_fires(figure):
    data = host(DATA)
    dump = f"{ROOTS['postgres']}/{newest(ROOTS['postgres'])}/docshare.dump"
    # One byte changed in the middle, size unchanged: the bit rot a checksum must catch.
    data.check_output(f"cp -p {dump} /root/drill-saved.dump && printf X | dd of={dump} bs=1 seek=100 conv=notrunc status=none")
    try:
        result = start_unit(DATA, "drill")
        assert result["Result"] == "exit-code", result
        wait_for("restorable 0 for postgres", lambda: values("bundle_snapshot_restorable", "service").get("postgres") == 0)
        firing = wait_for("SnapshotNotRestorable firing", lambda: query('ALERTS{alertname="SnapshotNotRestorable", alertstate="firing"}'))
        assert {a["metric"]["service"] for a in firing} == {"postgres"}, firing
        wait_for("MaintenanceJobFailed for the drill", lambda: query(
            'ALERTS{alertname="MaintenanceJobFailed", alertstate="firing", maintenance_job="drill"}'))
        assert "docshare.dump does not match its sha256" in state(DATA, "drill")["error"]
        tests = host(MONITOR).run("promtool test rules /etc/prometheus/rules/tests/bundle.test.yml")
        assert tests.rc == 0 and "SUCCESS" in tests.stdout, tests.stdout + tests.stderr
        assert "'alert': 'SnapshotNotRestorable'" in (PROJECT / "roles/monitoring/templates/bundle.test.yml.j2").read_text()
        figure("drill after corrupting the newest PostgreSQL dump: restorable postgres 0, SnapshotNotRestorable and "
               "MaintenanceJobFailed firing; promtool test rules: SUCCESS (SnapshotNotRestorable, MaintenanceJobOverdue cases)")
    finally:
        data.check_output(f"cp -p /root/drill-saved.dump {dump}")
    assert start_unit(DATA, "drill")["Result"] == "success"
    wait_for("restorable 1 again", lambda: values("bundle_snapshot_restorable", "service").get("postgres") == 1)


# --- the lock --------------------------------------------------------------------------------------
def test_a_timer_job_skips_while_a_deploy_holds_the_lock(figure):
    data = host(DATA)
    write_run_marker("src-test-skip")
    try:
        since = now_on(DATA)
        start = time.monotonic()
        result = start_unit(DATA, "redis")
        seconds = time.monotonic() - start
    finally:
        data.run("rm -f /var/lib/bundle/run.json")
    assert result["Result"] == "success" and result["ExecMainStatus"] == "75", result
    text = journal(DATA, "redis", since)
    assert re.search(r"waiting up to 45 s: deploy of src-test-skip by tester since \S+ holds the lock", text), text
    assert re.search(r"SKIPPED: deploy of src-test-skip by tester since \S+ holds the lock; skipped", text), text
    prom = metrics(DATA, "redis")
    assert 'result="skipped"' in prom and 'bundle_maintenance_last_success{maintenance_job="redis"} 1' in prom, prom
    assert seconds >= 45
    figure(f"lock: a timer's job skipped after {seconds:.0f} s (maintenance_lock_wait 45) while a deploy marker was present")


def test_a_timer_job_waits_for_the_deploy_then_runs(figure):
    data = host(DATA)
    write_run_marker("src-test-wait")
    since = now_on(DATA)
    data.check_output("systemctl start --no-block bundle-maintenance-redis.service")
    try:
        wait_for("the job to wait", lambda: "waiting up to 45 s: deploy of src-test-wait" in journal(DATA, "redis", since), timeout=30, every=1)
        time.sleep(5)
        assert data.check_output("systemctl is-active bundle-maintenance-redis.service || true") == "activating"
    finally:
        data.run("rm -f /var/lib/bundle/run.json")
    wait_for("the job to end", lambda: data.check_output("systemctl is-active bundle-maintenance-redis.service || true") != "activating",
             timeout=120, every=2)
    text = journal(DATA, "redis", since)
    assert "RESULT redis on maint-data: SUCCESS" in text, text
    figure("lock: a timer's job waited for the deploy marker to go, then ran")


def test_a_real_deploy_lock_refuses_the_playbook_and_holds_the_timer(figure):
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_FILTER_PLUGINS=str(PROJECT / "plugins" / "filter"),
               ANSIBLE_LIBRARY=str(PROJECT / "plugins" / "modules"), ANSIBLE_MODULE_UTILS=str(PROJECT / "plugins" / "module_utils"),
               ANSIBLE_NOCOLOR="1", BUNDLE_ROOT=str(PROJECT))
    snapshot = subprocess.Popen(["ansible-playbook", "-i", str(inventory), str(PROJECT / "playbooks" / "snapshot.yml")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    data = host(DATA)
    try:
        wait_for("the snapshot's run marker", lambda: data.file("/var/lib/bundle/run.json").exists, timeout=600, every=1)
        since = now_on(DATA)
        data.check_output("systemctl start --no-block bundle-maintenance-redis.service")
        code, out = playbook("maintenance", tags="redis")
        assert code != 0 and re.search(r"deploy lock of \S+ is held by snapshot of", out), tail(out)
        output, _ = snapshot.communicate(timeout=1200)
        assert snapshot.returncode == 0, tail(output)
    finally:
        if snapshot.poll() is None:
            snapshot.kill()
    wait_for("the timer's job to end", lambda: data.check_output("systemctl is-active bundle-maintenance-redis.service || true")
             != "activating", timeout=120, every=2)
    text = journal(DATA, "redis", since)
    ran = "RESULT redis on maint-data: SUCCESS" in text
    assert re.search(r"waiting up to 45 s: snapshot of \S+ by \S+ since \S+ holds the lock", text), text
    assert ran or "SKIPPED: snapshot of" in text, text
    figure(f"lock: playbooks/maintenance.yml refused while snapshot.yml held the lock; the redis timer job "
           f"{'waited, then ran' if ran else 'waited, then skipped'}")


def test_a_deploy_refuses_while_a_maintenance_job_runs():
    data = host(DATA)
    data.check_output("systemctl reset-failed maint-test-job 2>/dev/null; systemd-run --unit=maint-test-job sleep 600")
    pid = data.check_output("systemctl show -p MainPID --value maint-test-job")
    data.check_output(f"echo '{{\"job\": \"vacuum\", \"pid\": {pid}, \"started\": \"{utc_iso()}\"}}' > /run/bundle/maintenance.json")
    try:
        code, out = playbook("snapshot")
    finally:
        data.run("systemctl stop maint-test-job; rm -f /run/bundle/maintenance.json")
    assert code != 0 and "A maintenance job runs on maint-data" in out, tail(out)


# --- every timer's service, by hand ----------------------------------------------------------------
def test_each_timers_service_runs_and_reports_in_journal_and_metrics(figure):
    durations = []
    for name, jobs in JOBS_ON.items():
        for job in sorted(jobs):
            since, before = now_on(name), time.time()
            result = start_unit(name, job)
            assert result["Result"] == "success" and result["ExecMainStatus"] == "0", (name, job, result)
            assert f"RESULT {job} on {name}: SUCCESS" in journal(name, job, since)
            ran = wait_for(f"{job} on {name} in Prometheus", lambda: query(
                f'bundle_maintenance_last_run_timestamp_seconds{{instance="{name}", maintenance_job="{job}", result="success"}} >= {int(before)}'))
            assert ran
            durations.append(f"{job}@{name} {state(name, job)['duration']:.1f} s")
    success = values("bundle_maintenance_last_success", "maintenance_job")
    assert set(success) == {"orphans", "prune", "vacuum", "redis", "drill"} and all(success.values()), success
    assert query('ALERTS{alertname=~"MaintenanceJobOverdue|MaintenanceJobFailed|SnapshotNotRestorable|SnapshotTooOld"}') == []
    figure("timers started by hand: " + ", ".join(durations))
