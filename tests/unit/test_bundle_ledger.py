"""Unit tests of plugins/module_utils/bundle_ledger.py: release records, rollback choice, lock."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))

import bundle_ledger  # noqa: E402
from bundle_ledger import Ledger, LedgerError, Lock, parse_time, stale_reason, table  # noqa: E402


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ledger write one second after the previous one, without sleeping."""
    ticks = iter(range(1_800_000_000, 1_900_000_000))
    monkeypatch.setattr(bundle_ledger, "utc_now", lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next(ticks))))


def deploy(ledger: Ledger, release: str, status: str, **fields) -> None:
    ledger.begin(release, {"operator": "ops", **fields})
    if status in ("live", "good", "rolled-back"):
        ledger.update(release, {}, "live")
    if status != "unfinished":
        ledger.update(release, {}, status)
    if status in ("good", "live"):
        ledger.set_current(release)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path)


def test_records_are_readable_json_and_ordered(ledger, tmp_path):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    assert [r["release"] for r in ledger.records()] == ["a-1", "b-2"]
    record = json.loads((tmp_path / "releases" / "b-2.json").read_text())
    assert record["status"] == "good" and record["operator"] == "ops"
    assert [h["status"] for h in record["history"]] == ["unfinished", "live", "good"]
    assert ledger.current() == "b-2"


def test_bad_release_is_never_deployed_again(ledger):
    deploy(ledger, "c-3", "bad", failure="health check failed on app2")
    before = (ledger.releases / "c-3.json").read_text()
    with pytest.raises(LedgerError, match="never deployed again"):
        ledger.deployable("c-3")
    with pytest.raises(LedgerError, match="never deployed again"):
        ledger.begin("c-3", {})
    assert (ledger.releases / "c-3.json").read_text() == before, "a refusal changes nothing"


def test_deployable_changes_nothing_and_knows_new_and_resumable_releases(ledger):
    assert ledger.deployable("n-1") is None
    assert not (ledger.releases / "n-1.json").exists()
    ledger.begin("k-9", {})
    assert ledger.deployable("k-9")["status"] == "unfinished"
    with pytest.raises(LedgerError):
        ledger.deployable("../etc")


def test_unfinished_release_can_be_resumed(ledger):
    ledger.begin("k-9", {})
    record = ledger.begin("k-9", {})
    assert record["status"] == "unfinished" and record["deploys"] == 2


def test_a_release_deployed_again_keeps_the_snapshot_of_its_first_deploy(ledger):
    """-e force=true (or a resumed run): the fleet before the first deploy, and the snapshot taken then, stay the release's."""
    first = {"previous": "a-1", "snapshot_id": "b-2", "snapshot_services": ["postgres"], "snapshot_skipped": ["redis", "nfs"]}
    deploy(ledger, "b-2", "good", **first)
    again = ledger.begin("b-2", {"operator": "bob", "previous": "b-2", "snapshot_id": "b-2",
                                 "snapshot_services": ["postgres", "redis", "nfs"], "snapshot_skipped": []})
    assert {k: again[k] for k in first} == first
    assert again["operator"] == "bob" and again["deploys"] == 2 and again["status"] == "unfinished"
    fresh = ledger.begin("c-3", {"previous": "b-2", "snapshot_services": ["postgres"], "snapshot_skipped": None})
    assert fresh["previous"] == "b-2" and "snapshot_skipped" not in fresh  # a first deploy records what it is given


def test_rollback_target_defaults_to_last_good_before_the_running_one(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    deploy(ledger, "c-3", "bad")
    assert ledger.rollback_target()["release"] == "a-1"


def test_rollback_target_refuses_bad_unknown_malformed_and_current(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    deploy(ledger, "c-3", "bad", failure="bake: 5xx ratio 0.4")
    with pytest.raises(LedgerError, match="bad release.*Choose one of: a-1 \\(good\\)"):
        ledger.rollback_target("c-3")
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.rollback_target("zzz-0")
    with pytest.raises(LedgerError, match="not a release id"):
        ledger.rollback_target("../etc")
    with pytest.raises(LedgerError, match="running now"):
        ledger.rollback_target("b-2")


def test_rolled_back_release_is_an_explicit_target_not_the_default(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    ledger.update("b-2", {}, "rolled-back")
    ledger.update("a-1", {}, "good", note="rollback")
    ledger.set_current("a-1")
    with pytest.raises(LedgerError, match="no good release other than the running one"):
        ledger.rollback_target()
    assert ledger.rollback_target("b-2")["release"] == "b-2"


def test_bad_is_terminal_but_requests_after_a_switch_keep_it_with_a_note(ledger):
    deploy(ledger, "c-3", "bad")
    failed_at = ledger.get("c-3")["failed_at"]
    for status in ("live", "good", "bad", "rolled-back", "aborted"):
        record = ledger.update("c-3", {}, status, note=f"asked {status}")
        assert record["status"] == "bad" and record["failed_at"] == failed_at
        assert record["history"][-1]["requested"] == status and "stays bad" in record["history"][-1]["note"]
    assert ledger.get("c-3")["rolled_back_requested_at"]
    with pytest.raises(LedgerError, match="cannot go from bad to unfinished"):
        ledger.update("c-3", {}, "unfinished")


def test_outcome_table_covers_every_status_and_refuses_only_a_bad_begin():
    assert set(bundle_ledger.OUTCOMES) == set(bundle_ledger.STATUSES)
    for old, row in bundle_ledger.OUTCOMES.items():
        assert set(row) == set(bundle_ledger.STATUSES), old
        assert set(row.values()) <= {"move", "keep", "refuse"}, old
    refused = {(old, new) for old, row in bundle_ledger.OUTCOMES.items() for new, o in row.items() if o == "refuse"}
    assert refused == {("bad", "unfinished")}
    assert set(bundle_ledger.KEEP_WHY) >= {old for old, row in bundle_ledger.OUTCOMES.items() if "keep" in row.values()}


def test_rollback_away_from_a_bad_running_release_succeeds(ledger):
    """The wedge of issue 25: a release bad while still running (its revert did not complete)."""
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "live")
    ledger.update("b-2", {}, "bad")
    target = ledger.rollback_target()
    assert target["release"] == "a-1" and target["current"] == "b-2"
    assert ledger.update("b-2", {}, "rolled-back", note="rolled back to a-1")["status"] == "bad"
    ledger.update("a-1", {}, "good", note="rollback from b-2")
    assert ledger.set_current("a-1") and ledger.current() == "a-1"
    with pytest.raises(LedgerError, match="never deployed again"):
        ledger.begin("b-2", {})


def test_rollback_away_from_an_interrupted_redeploy_keeps_it_unfinished(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    ledger.begin("b-2", {})  # a redeploy of the running release, its controller killed before the switch
    assert ledger.rollback_target()["release"] == "a-1"
    record = ledger.update("b-2", {}, "rolled-back", note="rolled back to a-1")
    assert record["status"] == "unfinished" and "never passed a deploy" in record["history"][-1]["note"]
    assert ledger.deployable("b-2")["status"] == "unfinished"


def test_aborted_release_is_deployable_protected_and_no_rollback_target(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    ledger.begin("c-3", {})
    ledger.update("c-3", {}, "live")
    ledger.set_current("c-3")
    ledger.update("c-3", {}, "aborted", note="monitoring down")
    assert ledger.get("c-3")["status"] == "aborted" and ledger.get("c-3")["aborted_at"]
    assert ledger.rollback_target()["release"] == "b-2", "the running aborted release is no target"
    assert ledger.update("c-3", {}, "rolled-back")["status"] == "aborted", "a rollback away keeps it aborted"
    ledger.update("b-2", {}, "good", note="fleet reverted to it")
    ledger.set_current("b-2")
    assert ledger.deployable("c-3")["status"] == "aborted"
    assert "c-3" in ledger.protected()
    assert ledger.rollback_target()["release"] == "a-1"
    with pytest.raises(LedgerError, match="is aborted"):
        ledger.rollback_target("c-3")
    assert ledger.update("b-2", {}, "aborted")["status"] == "good", "an environment failure keeps a good release good"
    assert ["c-3", "aborted"] in [line.split()[:2] for line in table(ledger.records(), "b-2").splitlines()]
    assert ledger.begin("c-3", {})["status"] == "unfinished"


def test_contracting_migrations_between_target_and_current(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good", migrations={"ran": True, "contract": True})
    deploy(ledger, "c-3", "good", migrations={"ran": True, "contract": False})
    assert ledger.contract_between("a-1", "c-3") == ["b-2"]
    assert ledger.contract_between("b-2", "c-3") == []


def test_protected_keeps_current_last_good_and_young_bad(ledger):
    deploy(ledger, "a-1", "good")
    deploy(ledger, "b-2", "good")
    deploy(ledger, "c-3", "bad")
    ledger.begin("d-4", {})
    assert ledger.protected(keep_bad_days=7) == ["b-2", "c-3", "d-4"]
    later = parse_time(ledger.get("c-3")["failed_at"]) + 8 * 86400
    assert ledger.protected(keep_bad_days=7, now=later) == ["b-2", "d-4"]


def test_table_marks_the_running_release(ledger):
    deploy(ledger, "a-1", "good", snapshot_id="a-1", image_id="sha256:0123456789abcdef")
    text = table(ledger.records(), "a-1")
    assert text.splitlines()[0].split() == ["release", "status", "deployed", "by", "snapshot", "image", "migrations", "hosts"]
    assert text.splitlines()[1].startswith("*  a-1") and "0123456789ab" in text


def test_lock_is_exclusive_and_only_its_token_releases_it(tmp_path):
    lock = Lock(tmp_path)
    ok, mine = lock.acquire({"operator": "alice", "release": "a-1", "pid": 1})
    assert ok and mine["token"]
    ok, other = Lock(tmp_path).acquire({"operator": "bob"})
    assert not ok and other["operator"] == "alice"
    assert lock.release("not-the-token") is False and lock.read()
    lock.heartbeat(mine["token"], {"release": "a-2"})
    assert lock.read()["release"] == "a-2"
    assert lock.release(mine["token"]) is True and lock.read() is None


def test_clear_refuses_a_lock_taken_since_it_was_reported(tmp_path):
    lock = Lock(tmp_path)
    _, stale = lock.acquire({"operator": "alice"})
    lock.release(stale["token"])
    lock.acquire({"operator": "bob"})
    with pytest.raises(LedgerError, match="changed since it was reported"):
        lock.clear(stale["token"])


def test_stale_by_dead_process_on_this_controller_or_old_heartbeat():
    now = time.time()
    fresh = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 10))
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600))
    holder = {"controller": "ops1", "pid": 4242, "heartbeat": fresh}
    assert stale_reason(holder, 900, "ops1", lambda pid: True, now) == ""
    assert "no longer exists" in stale_reason(holder, 900, "ops1", lambda pid: False, now)
    assert stale_reason(holder, 900, "ops2", lambda pid: False, now) == "", "another controller's pid cannot be checked"
    assert "no heartbeat for" in stale_reason(dict(holder, heartbeat=old), 900, "ops2", None, now)


def test_update_appends_with_plus_keys(ledger):
    deploy(ledger, "a-1", "good")
    ledger.update("a-1", {"snapshots+": [{"id": "snap-1"}]})
    ledger.update("a-1", {"snapshots+": [{"id": "snap-2"}]})
    assert [s["id"] for s in ledger.get("a-1")["snapshots"]] == ["snap-1", "snap-2"]
