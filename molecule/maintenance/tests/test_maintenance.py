"""Scheduled maintenance on a running stack: the jobs by playbook and by timer, their metrics in Prometheus.

maint-app runs docshare (converged by playbooks/app.yml), maint-data PostgreSQL, Redis and the NFS server,
maint-monitor Prometheus. The tests run in file order and build on each other, with as few playbook runs as
the checks allow (each one takes the real deploy lock, runs every host's preflight and writes the summary):
timers installed where their jobs apply; a run with a bad schedule (and a maintenance job running) refused
in preflight with nothing written anywhere; orphans reported by the timer; a real snapshot.yml holding the
lock while the playbook is refused and a timer's job waits for it; then one playbook run of all five jobs
(orphans deleting into the dated quarantine and purging an old one, prune against a seeded ledger of live, good
and bad releases, vacuum of real dead tuples, the Redis save and AOF rewrite, the restore drill) checked job
by job; the drill in Prometheus and a corrupted snapshot turning it to 0 with its alerts; a timer's job
skipping and waiting for a deploy's marker; each timer's service started by hand, checked in its journal and
its metrics.
"""
from __future__ import annotations

import datetime
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import (APP, DATA, MONITOR, PROJECT, SCENARIO, TIMERS_ACTIVE, host, journal, journal_mark, metrics, playbook, query,
                      start_unit, state, tail, values, wait_for)
from playbook import start_playbook  # molecule/_shared/playbook.py

DOCS = "/srv/nfs/documents"
STATE_ROOT = "/var/lib/bundle/docshare"
PROTECTED = "/var/lib/bundle/protected.json"
ROOTS = {"postgres": "/var/backups/bundle/postgres", "redis": "/var/backups/bundle/redis", "nfs": "/var/backups/bundle/nfs"}
SEEDED = {"m-rolled", "m-bad-old", "m-good-a", "m-good-b", "m-bad-new", "m-live"}
JOBS_ON = {APP: {"orphans", "prune"}, DATA: {"prune", "vacuum", "redis", "drill"}, MONITOR: set()}
LOCK_WAIT = 20  # maintenance_lock_wait of the scenario (group_vars/all/main.yml)
# What a run refused before any change must leave alone on every host.
WATCHED = ("/etc/systemd/system /etc/bundle-maintenance /var/lib/bundle /var/lib/bundle-maintenance /var/backups/bundle "
           "/var/lib/prometheus/node-exporter /srv/nfs")
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
    """The marker a deploy's preflight writes on every host (roles/deploy/tasks/marker.yml), by hand."""
    marker = {"command": "deploy", "release": release, "operator": "tester", "controller": "ci", "pid": 1,
              "started": utc_iso(), "environment": "maintenance", "state_host": DATA}
    host(DATA).check_output(f"mkdir -p /var/lib/bundle && echo {json.dumps(json.dumps(marker))} > /var/lib/bundle/run.json")


def unit_state(name: str, job: str) -> str:
    return host(name).check_output(f"systemctl is-active bundle-maintenance-{job}.service || true")


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
    periods = wait_for("the schedules' periods in Prometheus", lambda: len(query("bundle_maintenance_period_seconds")) == 6)
    assert periods
    by_job = {(r["metric"]["instance"], r["metric"]["maintenance_job"]): float(r["value"][1]) for r in query("bundle_maintenance_period_seconds")}
    assert by_job == {(APP, "orphans"): 604800, (APP, "prune"): 86400, (DATA, "prune"): 86400, (DATA, "vacuum"): 604800,
                      (DATA, "redis"): 3600, (DATA, "drill"): 86400}, by_job


def test_a_run_refused_in_preflight_changes_nothing_anywhere(figure):
    """A bad schedule on maint-data and a maintenance job running on maint-app: both refuse the run in its preflight,
    each naming what to fix, and no host gets a file written (no protected list, no metrics, no unit)."""
    marker = "/run/maint-refused.marker"
    for name in JOBS_ON:
        host(name).check_output(f"touch {marker}")
    app = host(APP)
    app.check_output("systemctl reset-failed maint-test-job 2>/dev/null; systemd-run --unit=maint-test-job sleep 600")
    pid = app.check_output("systemctl show -p MainPID --value maint-test-job")
    app.check_output(f"mkdir -p /run/bundle && echo '{{\"job\": \"orphans\", \"pid\": {pid}, \"started\": \"{utc_iso()}\"}}' "
                     "> /run/bundle/maintenance.json")
    try:
        code, out = playbook("maintenance", tags="vacuum", maintenance_drill_schedule="Sat 3:99")
    finally:
        app.run("systemctl stop maint-test-job; rm -f /run/bundle/maintenance.json")
    assert code != 0, tail(out)
    assert "maintenance_drill_schedule = 'Sat 3:99' is not a recurring systemd OnCalendar expression" in out, tail(out)
    assert "A maintenance job runs on maint-app" in out, tail(out)
    assert "REFUSED before any change" in out, tail(out)
    written = {}
    for name in JOBS_ON:
        found = host(name).check_output(f"find {WATCHED} -xdev -newer {marker} -type f 2>/dev/null || true")
        if found.strip():
            written[name] = found.split()
        assert not host(name).file("/var/lib/bundle/run.json").exists, f"{name} kept the run marker"
    assert not written, f"a refused run wrote files: {written}"
    assert "05:10" in host(DATA).check_output("systemctl show -p TimersCalendar --value bundle-maintenance-drill.timer")
    figure("refused in preflight (bad maintenance_drill_schedule on maint-data, a job running on maint-app): no file written on any host")


# --- orphans ---------------------------------------------------------------------------------------
def test_the_orphans_timer_reports_counts_and_paths_and_moves_nothing(figure):
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

    mark = journal_mark(APP)
    result = start_unit(APP, "orphans")
    assert result["Result"] == "success" and result["ExecMainStatus"] == "0", result
    out = journal(APP, "orphans", mark)
    assert f"{DOCS}/{orphan}" in out and f"{DOCS}/{partial}" in out, out
    assert f"row {doc['id']}: {DOCS}/{stored} is missing" in out, out
    assert "report only: nothing deleted or moved" in out and "older than 14 days: 2020-01-01" in out, out
    for name in (orphan, partial, ".quarantine/2020-01-01"):
        assert data.file(f"{DOCS}/{name}").exists, f"a report-only run touched {name}"
    assert psql(f"SELECT count(*) FROM documents WHERE id = {int(doc['id'])}") == "1"
    text = metrics(APP, "orphans")
    assert items(text, "orphans") == {"found": 3, "removed": 0, "quarantined": 0}, text
    assert 'bundle_maintenance_last_success{maintenance_job="orphans"} 1' in text
    figure(f"orphans timer (report only): {items(text, 'orphans')} (a file without a row, a row without a file, an abandoned upload)")


# --- the deploy lock, held by a real operations playbook ---------------------------------------------
def test_a_snapshot_run_holds_the_lock_against_the_playbook_and_the_timers(figure):
    code, out = playbook(SCENARIO / "seed.yml")
    assert code == 0, tail(out)
    for service, root in ROOTS.items():
        assert sealed(root) == SEEDED, service
    snapshot = start_playbook(PROJECT / "playbooks" / "snapshot.yml")
    data = host(DATA)
    try:
        wait_for("the snapshot's run marker", lambda: data.file("/var/lib/bundle/run.json").exists, timeout=600, every=1)
        mark = journal_mark(DATA)
        data.check_output("systemctl start --no-block bundle-maintenance-redis.service")
        code, refused = playbook("maintenance", tags="redis")
        output, _ = snapshot.communicate(timeout=1200)
    finally:
        if snapshot.poll() is None:
            snapshot.kill()
    assert code != 0 and re.search(r"deploy lock of \S+ is held by snapshot of", refused), tail(refused)
    assert snapshot.returncode == 0, tail(output)
    taken = re.search(r"Snapshot: (snap-\S+) \(", output)
    assert taken, tail(output)
    wait_for("the timer's job to end", lambda: unit_state(DATA, "redis") != "activating", timeout=120, every=2)
    text = journal(DATA, "redis", mark)
    assert re.search(rf"waiting up to {LOCK_WAIT} s: snapshot of \S+ by \S+ since \S+ holds the lock", text), text
    skipped = "SKIPPED: snapshot of" in text
    assert skipped or "RESULT redis on maint-data: SUCCESS" in text, text
    SEEN.update(newest=taken.group(1), current=json.loads(data.file(f"{STATE_ROOT}/current.json").content_string)["release"])
    for service, root in ROOTS.items():
        assert sealed(root) == SEEDED | {SEEN["newest"]}, service
    figure(f"lock: playbooks/maintenance.yml refused while snapshot.yml held the lock; the redis timer's job waited for it, then "
           f"{'skipped after ' + str(LOCK_WAIT) + ' s' if skipped else 'ran'}")


# --- the five jobs by playbook, in one run ------------------------------------------------------
VACUUM_PROBE = "public.maint_vacuum_probe"


@pytest.fixture(scope="module")
def jobs_run() -> str:
    """playbooks/maintenance.yml once for all five jobs, orphans deleting (-e maintenance_delete=true), keep 1 snapshot
    and 1 image; its output.

    Before it, a table of the application's database gets 600 dead tuples of 1000 (autovacuum off for it, so only the
    job's VACUUM can remove them)."""
    psql(f"DROP TABLE IF EXISTS {VACUUM_PROBE}; CREATE TABLE {VACUUM_PROBE} (id int) WITH (autovacuum_enabled = false); "
         f"INSERT INTO {VACUUM_PROBE} SELECT generate_series(1, 1000); DELETE FROM {VACUUM_PROBE} WHERE id <= 600")
    wait_for("the dead tuples in the statistics", lambda: psql(
        f"SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = '{VACUUM_PROBE}'::regclass") == "600", timeout=30, every=1)
    code, out = playbook("maintenance", maintenance_delete=True, maintenance_keep_snapshots=1, maintenance_keep_images=1)
    assert code == 0, tail(out)
    # orphans on maint-app, prune on both hosts, vacuum, redis and drill on maint-data
    assert re.search(r"Jobs: 6 runs of 5 jobs: 6 success;", out), tail(out)
    return out


def test_the_playbook_moves_orphans_to_the_dated_quarantine_and_purges_old_ones(figure, jobs_run):
    data, out = host(DATA), jobs_run
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    for name in (SEEN["orphan"], SEEN["partial"]):
        assert not data.file(f"{DOCS}/{name}").exists and data.file(f"{DOCS}/.quarantine/{today}/{name}").exists, name
    assert psql(f"SELECT count(*) FROM documents WHERE id = {int(SEEN['doc_id'])}") == "0", "the row without a file is deleted"
    assert not data.file(f"{DOCS}/.quarantine/2020-01-01").exists, "a quarantine older than maintenance_quarantine_days is purged"
    text = metrics(APP, "orphans")
    assert items(text, "orphans") == {"found": 3, "removed": 2, "quarantined": 2}, text
    assert f"purged {DOCS}/.quarantine/2020-01-01 (1 files" in out, tail(out)
    assert re.search(r"orphans on maint-app: SUCCESS in [\d.]+ s \(found 3, removed 2, quarantined 2\)", out), tail(out)
    figure(f"orphans playbook with maintenance_delete: {items(text, 'orphans')} (2 files to .quarantine/{today}/, 1 row deleted, "
           "1 old quarantined file purged)")


def test_prune_keeps_live_good_and_recent_bad_releases(figure, jobs_run):
    current, newest_id = SEEN["current"], SEEN["newest"]
    for service, root in ROOTS.items():
        # protected: the last good, the live one and the bad one younger than maintenance_keep_bad_days; kept: the newest other
        assert sealed(root) == {"m-good-b", "m-live", "m-bad-new", newest_id}, (service, tail(jobs_run))
    tags = set(host(APP).check_output("docker image ls --format '{{.Tag}}' docshare").split())
    assert tags == {current, "m-good-b", "m-live", "m-bad-new", "m-good-a"}, tags
    data_items, app_items = items(metrics(DATA, "prune"), "prune"), items(metrics(APP, "prune"), "prune")
    assert data_items["removed"] == 9 and app_items["removed"] == 2, (data_items, app_items)
    for name in JOBS_ON:
        doc = json.loads(host(name).file(PROTECTED).content_string)
        why = {r["release"]: r["why"] for r in doc["releases"]}
        assert why == {current: "current", "m-good-b": "last good", "m-live": "live", "m-bad-new": "bad, kept for inspection"}, why
    figure(f"prune (keep 1): snapshots removed on maint-data {data_items['removed']} (m-good-a m-bad-old m-rolled of each service), "
           f"images removed on maint-app {app_items['removed']} (m-bad-old m-rolled); kept: {current} (current), m-good-b, "
           f"m-live, m-bad-new, newest {newest_id}")


def test_vacuum_removes_dead_tuples_and_reports_sizes(figure, jobs_run):
    try:
        assert "VACUUM (ANALYZE) of" in jobs_run and "public.documents" in jobs_run, tail(jobs_run)
        assert re.search(rf"tables above the bloat ratio 0.2 before: [^\n]*{re.escape(VACUUM_PROBE)}", jobs_run), tail(jobs_run)
        dead = re.search(r"dead tuples (\d+) -> (\d+)", jobs_run)
        assert dead and int(dead.group(1)) >= 600 and int(dead.group(2)) < 600, tail(jobs_run)
        assert psql(f"SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = '{VACUUM_PROBE}'::regclass") == "0"
        found = items(metrics(DATA, "vacuum"), "vacuum")
        assert found["found"] >= 600 and found["removed"] >= 600, found
        size = wait_for("the database size in Prometheus",
                        lambda: values('bundle_postgres_database_size_bytes{database="docshare"}', "database"))
        bloated = values('bundle_postgres_bloated_tables{database="docshare"}', "database")
        assert size["docshare"] > 0 and bloated["docshare"] >= 1, (size, bloated)
    finally:
        psql(f"DROP TABLE IF EXISTS {VACUUM_PROBE}")
    figure(f"vacuum: docshare is {size['docshare'] / 1048576:.1f} MiB; {dead.group(0)} ({VACUUM_PROBE}: 600 of 1000 rows deleted)")


def test_redis_saves_and_rewrites_its_aof(figure, jobs_run):
    assert "BGSAVE: ok" in jobs_run and "AOF: last rewrite ok" in jobs_run, tail(jobs_run)
    text = metrics(DATA, "redis")
    assert "bundle_redis_bgsave_ok 1" in text and "bundle_redis_aof_rewrite_ok 1" in text, text
    saved = re.search(r"last save before this job: [^\"]*", jobs_run)
    figure("redis: " + (saved.group(0) if saved else "?"))


def test_drill_restores_every_service_and_prometheus_sees_it(figure, jobs_run):
    def all_restorable() -> dict[str, float] | None:
        found = values("bundle_snapshot_restorable", "service")
        return found if len(found) == 3 and all(found.values()) else None

    restorable = wait_for("bundle_snapshot_restorable of the three services", all_restorable)
    assert restorable == {"postgres": 1, "redis": 1, "nfs": 1}
    snapshots = {r["metric"]["service"]: r["metric"]["snapshot"] for r in query("bundle_snapshot_restorable")}
    assert snapshots == dict.fromkeys(ROOTS, SEEN["newest"]), snapshots
    assert not host(DATA).check_output("ls -A /var/tmp/bundle-drill"), "the drill leaves its scratch folder empty"
    assert psql("SELECT count(*) FROM pg_database WHERE datname LIKE '%drill%'") == "0"
    durations = values("bundle_snapshot_restore_duration_seconds", "service")
    figure("drill: restorable " + ", ".join(f"{s} {int(v)}" for s, v in sorted(restorable.items()))
           + "; restore durations " + ", ".join(f"{s} {v:.1f} s" for s, v in sorted(durations.items())))


def test_a_corrupted_snapshot_becomes_not_restorable_and_its_alerts_fire(figure):
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
        assert values("bundle_snapshot_restorable", "service") == {"postgres": 0, "redis": 1, "nfs": 1}
        figure("drill after corrupting one byte of the newest PostgreSQL dump: restorable postgres 0 (redis, nfs 1), "
               "SnapshotNotRestorable and MaintenanceJobFailed firing")
    finally:
        data.check_output(f"cp -p /root/drill-saved.dump {dump}")
    assert start_unit(DATA, "drill")["Result"] == "success"
    wait_for("restorable 1 again", lambda: values("bundle_snapshot_restorable", "service").get("postgres") == 1)


# --- the deploy lock, as a timer's job sees a deploy's marker ------------------------------------------
def test_a_timer_job_skips_while_a_deploy_holds_the_lock(figure):
    data = host(DATA)
    write_run_marker("src-test-skip")
    try:
        mark = journal_mark(DATA)
        start = time.monotonic()
        result = start_unit(DATA, "redis")
        seconds = time.monotonic() - start
    finally:
        data.run("rm -f /var/lib/bundle/run.json")
    assert result["Result"] == "success" and result["ExecMainStatus"] == "75", result
    text = journal(DATA, "redis", mark)
    assert re.search(rf"waiting up to {LOCK_WAIT} s: deploy of src-test-skip by tester since \S+ holds the lock", text), text
    assert re.search(r"SKIPPED: deploy of src-test-skip by tester since \S+ holds the lock; skipped", text), text
    prom = metrics(DATA, "redis")
    # A skip is no failure: the last success (the playbook's run) stays 1.
    assert 'result="skipped"' in prom and 'bundle_maintenance_last_success{maintenance_job="redis"} 1' in prom, prom
    assert state(DATA, "redis")["last_result"] == "skipped"
    assert seconds >= LOCK_WAIT
    figure(f"lock: a timer's job skipped after {seconds:.0f} s (maintenance_lock_wait {LOCK_WAIT}) while a deploy's marker was present")


def test_a_timer_job_waits_for_the_deploy_then_runs(figure):
    data = host(DATA)
    write_run_marker("src-test-wait")
    mark = journal_mark(DATA)
    data.check_output("systemctl start --no-block bundle-maintenance-redis.service")
    try:
        wait_for("the job to wait", lambda: "waiting up to" in journal(DATA, "redis", mark), timeout=LOCK_WAIT - 5, every=1)
        assert unit_state(DATA, "redis") == "activating"
    finally:
        data.run("rm -f /var/lib/bundle/run.json")
    wait_for("the job to end", lambda: unit_state(DATA, "redis") != "activating", timeout=120, every=2)
    text = journal(DATA, "redis", mark)
    assert "deploy of src-test-wait by tester" in text and "RESULT redis on maint-data: SUCCESS" in text, text
    assert "SKIPPED" not in text, text
    figure("lock: a timer's job waited while a deploy's marker was present, then ran when it went")


# --- every timer's service, by hand ----------------------------------------------------------------
def test_each_timers_service_runs_and_reports_in_journal_and_metrics(figure):
    durations = []
    for name, jobs in JOBS_ON.items():
        for job in sorted(jobs):
            mark, before = journal_mark(name), time.time()
            result = start_unit(name, job)
            assert result["Result"] == "success" and result["ExecMainStatus"] == "0", (name, job, result)
            text = journal(name, job, mark)
            assert f"RESULT {job} on {name}: SUCCESS" in text, text
            if job == "prune":  # the timer has no ledger at hand: it reads what the last run left on the host
                assert f"{PROTECTED}, written" in text, text
            ran = wait_for(f"{job} on {name} in Prometheus", lambda: query(
                f'bundle_maintenance_last_run_timestamp_seconds{{instance="{name}", maintenance_job="{job}", result="success"}} >= {int(before)}'))
            assert ran
            durations.append(f"{job}@{name} {state(name, job)['duration']:.1f} s")
    assert sealed(ROOTS["postgres"]) == {"m-good-b", "m-live", "m-bad-new", SEEN["newest"]}
    success = values("bundle_maintenance_last_success", "maintenance_job")
    assert set(success) == {"orphans", "prune", "vacuum", "redis", "drill"} and all(success.values()), success
    wait_for("no maintenance alert", lambda: query(
        'ALERTS{alertname=~"MaintenanceJobOverdue|MaintenanceJobFailed|SnapshotNotRestorable|SnapshotTooOld"}') == [])
    figure("timers started by hand: " + ", ".join(durations))


def test_nothing_is_left_running_or_held(figure: Any) -> None:
    for name in JOBS_ON:
        h = host(name)
        assert not h.file("/run/bundle/maintenance.json").exists, name
        assert not h.file("/var/lib/bundle/run.json").exists, name
    assert not host(APP).check_output("docker ps --all --quiet --filter name=docshare-maintenance-orphans")
