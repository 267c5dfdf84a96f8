"""Edge cases of the deploy lock (issue 18): unreadable lock files, skewed clocks, holder identity, check mode.

The lock (plugins/module_utils/bundle_ledger.py), the bundle_lock module run through its main() as Ansible
runs it, and the controller's filters (plugins/filter/bundle_ops.py).
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ansible.module_utils import bundle_ledger as state_host  # the copy the module imports
from ansible.module_utils.bundle_ledger import LedgerError, Lock, describe, stale_reason
from ansible.module_utils.testing import patch_module_args

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))
import bundle_ops as ops  # noqa: E402

_SPEC = importlib.util.spec_from_file_location(
    "bundle_lock_module", Path(__file__).resolve().parents[2] / "plugins" / "modules" / "bundle_lock.py")
assert _SPEC and _SPEC.loader
module = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(module)

BROKEN = {"empty": b"", "truncated JSON": b'{\n  "command": "deploy",\n  "token": "0a1b', "a JSON list": b'["deploy"]\n'}
WHY = {"empty": "empty", "truncated JSON": "not JSON", "a JSON list": "not an object"}
DEAD_PID = 2 ** 22 + 7


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def broken_lock(root: Path, data: bytes, age: float = 0.0) -> Path:
    """A lock file holding data, last written age seconds ago."""
    path = root / "deploy.lock"
    path.write_bytes(data)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def token_of(data: bytes) -> str:
    return "unreadable-" + hashlib.sha256(data).hexdigest()[:16]


def run_module(args: dict[str, Any], capsys: pytest.CaptureFixture[str], check_mode: bool = False) -> dict[str, Any]:
    """The module's main() as Ansible runs it; its JSON answer."""
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


# --- unreadable lock files ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(BROKEN))
def test_unreadable_lock_is_a_record_never_a_crash(tmp_path: Path, kind: str) -> None:
    data = BROKEN[kind]
    path = broken_lock(tmp_path, data, age=120)
    lock = Lock(tmp_path)
    record = lock.read()
    assert record is not None and record["unreadable"].startswith(WHY[kind])
    assert record["token"] == token_of(data)
    assert record["started"] == record["heartbeat"] == iso(path.stat().st_mtime)
    assert lock.acquire({"operator": "bob"}) == (False, record)
    with pytest.raises(LedgerError, match="no longer ours.*the lock file is unreadable"):
        lock.heartbeat("0a1b2c3d4e5f6a7b")
    assert lock.release("0a1b2c3d4e5f6a7b") is False and path.read_bytes() == data
    with pytest.raises(LedgerError, match="changed since it was reported"):
        lock.clear("0a1b2c3d4e5f6a7b")
    assert "the lock file is unreadable" in describe(record) and WHY[kind] in describe(record)
    assert lock.clear(record["token"]) is True and not path.exists()


@pytest.mark.parametrize("kind", list(BROKEN))
def test_module_answers_for_an_unreadable_lock(tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    broken_lock(tmp_path, BROKEN[kind], age=120)
    shown = run_module({"action": "show", "root": str(tmp_path), "stale_after": 900}, capsys)
    assert not shown.get("failed") and shown["holder"]["unreadable"].startswith(WHY[kind])
    assert 118 <= shown["age_seconds"] <= 125 and shown["stale"].startswith("the lock file is unreadable")
    busy = run_module({"action": "acquire", "root": str(tmp_path), "holder": {"operator": "bob"}}, capsys)
    assert busy["acquired"] is False and busy["holder"]["token"] == token_of(BROKEN[kind])
    beat = run_module({"action": "heartbeat", "root": str(tmp_path), "token": "0a1b2c3d4e5f6a7b"}, capsys)
    assert beat["failed"] and "unreadable" in beat["msg"] and "Traceback" not in beat["msg"]
    assert run_module({"action": "release", "root": str(tmp_path), "token": "0a1b2c3d4e5f6a7b"}, capsys)["changed"] is False
    cleared = run_module({"action": "clear", "root": str(tmp_path), "token": token_of(BROKEN[kind])}, capsys)
    assert cleared["changed"] is True and not (tmp_path / "deploy.lock").exists()


def test_unreadable_lock_is_cleared_only_with_the_token_of_its_current_bytes(tmp_path: Path) -> None:
    lock = Lock(tmp_path)
    broken_lock(tmp_path, b"", age=60)
    reported = lock.read()["token"]
    broken_lock(tmp_path, b'{"command": "dep', age=30)  # rewritten since it was reported
    with pytest.raises(LedgerError, match="changed since it was reported"):
        lock.clear(reported)
    (tmp_path / "deploy.lock").unlink()
    ok, taken = lock.acquire({"operator": "carol"})  # a real lock taken since
    assert ok
    with pytest.raises(LedgerError, match="changed since it was reported"):
        lock.clear(reported)
    assert lock.read() == taken


def test_unreadable_lock_is_stale_only_after_a_grace_for_a_writer_mid_write(tmp_path: Path) -> None:
    broken_lock(tmp_path, b"", age=1)
    assert stale_reason(Lock(tmp_path).read(), 900) == "", "acquire may be between its O_EXCL open and its JSON"
    broken_lock(tmp_path, b"", age=state_host.UNREADABLE_GRACE + 20)
    assert stale_reason(Lock(tmp_path).read(), 900).startswith("the lock file is unreadable (empty)")


# --- clocks: the state host's own ---------------------------------------------------------------
def state_host_answer(tmp_path: Path, shift: float, beat_age: float, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """bundle_lock show on a state host whose clock is shift seconds off the controller's; its holder beat beat_age s ago."""
    clock = time.time() + shift
    record = {"command": "deploy", "release": "a-1", "operator": "alice", "controller": "ops-elsewhere",
              "controller_id": "ops-elsewhere:1:boot", "pid": 4242, "token": "0a1b2c3d4e5f6a7b",
              "started": iso(clock - beat_age - 60), "heartbeat": iso(clock - beat_age)}
    (tmp_path / "deploy.lock").write_text(json.dumps(record))
    with monkeypatch.context() as patch:
        patch.setattr(state_host, "time", SimpleNamespace(time=lambda: clock, gmtime=time.gmtime, strftime=time.strftime))
        return run_module({"action": "show", "root": str(tmp_path), "stale_after": 900}, capsys)


def test_holder_two_hours_in_the_controllers_past_is_alive_by_the_state_hosts_clock(tmp_path, capsys, monkeypatch):
    answer = state_host_answer(tmp_path, -7200, 30, capsys, monkeypatch)
    assert 29 <= answer["age_seconds"] <= 32 and answer["stale"] == ""
    assert stale_reason(answer["holder"], 900), "this controller's own clock would call it stale"
    assert ops.bundle_lock_stale(answer, 900) == ""


def test_holder_two_hours_in_the_controllers_future_is_stale_by_the_state_hosts_clock(tmp_path, capsys, monkeypatch):
    answer = state_host_answer(tmp_path, 7200, 1000, capsys, monkeypatch)
    assert 999 <= answer["age_seconds"] <= 1002 and answer["stale"].startswith("no heartbeat for")
    assert stale_reason(answer["holder"], 900) == "", "this controller's own clock would call it alive"
    assert ops.bundle_lock_stale(answer, 900).startswith("no heartbeat for")
    assert ops.bundle_lock_stale(dict(answer, stale=""), 900).startswith("no heartbeat for 1"), "age_seconds alone decides"


def test_module_reports_age_on_every_answer_with_a_holder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = run_module({"action": "acquire", "root": str(tmp_path), "holder": {"operator": "alice"}, "stale_after": 900}, capsys)
    assert taken["acquired"] and taken["age_seconds"] in (0, 1) and taken["stale"] == ""
    beat = run_module({"action": "heartbeat", "root": str(tmp_path), "token": taken["holder"]["token"]}, capsys)
    assert beat["age_seconds"] in (0, 1) and "stale" not in beat, "stale is judged only when stale_after is given"
    gone = run_module({"action": "release", "root": str(tmp_path), "token": taken["holder"]["token"]}, capsys)
    assert gone["changed"] and "age_seconds" not in gone
    assert run_module({"action": "show", "root": str(tmp_path), "stale_after": 900}, capsys)["stale"] == ""


# --- holder identity ----------------------------------------------------------------------------
def test_controller_id_tells_containers_that_share_a_hostname_apart() -> None:
    me = ops.bundle_controller()
    host, pid_namespace, boot = me["controller_id"].split(":", 2)
    assert host == me["controller"]
    if os.path.exists("/proc/self/ns/pid"):
        assert pid_namespace == str(os.stat("/proc/self/ns/pid").st_ino)
    if os.path.exists("/proc/sys/kernel/random/boot_id"):
        assert boot == Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_same_hostname_other_controller_id_is_not_judged_by_pid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops.socket, "gethostname", lambda: "ci")
    fresh = iso(time.time() - 5)
    other = {"controller": "ci", "controller_id": "ci:4026532999:another-boot", "pid": DEAD_PID, "heartbeat": fresh}
    assert ops.bundle_lock_stale({"holder": other, "age_seconds": 5}, 900) == "", "another container's pid means nothing here"
    mine = dict(other, controller_id=ops.controller_id())
    assert "no longer exists" in ops.bundle_lock_stale({"holder": mine, "age_seconds": 5}, 900)
    legacy = {key: value for key, value in other.items() if key != "controller_id"}
    assert "no longer exists" in ops.bundle_lock_stale(legacy, 900), "records without controller_id: by hostname"


# --- check mode -----------------------------------------------------------------------------------
def test_check_mode_shows_and_pretends_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path)
    shown = run_module({"action": "show", "root": root, "stale_after": 900}, capsys, check_mode=True)
    assert shown["holder"] == {} and shown["stale"] == "" and not shown.get("skipped")
    taken = run_module({"action": "acquire", "root": root, "holder": {"operator": "alice", "pid": 1}}, capsys, check_mode=True)
    assert taken["acquired"] is True and taken["changed"] is False and taken["holder"]["check_mode"] is True
    assert taken["holder"]["token"] == module.CHECK_MODE_TOKEN and taken["holder"]["operator"] == "alice"
    assert not (tmp_path / "deploy.lock").exists()
    token = taken["holder"]["token"]
    beat = run_module({"action": "heartbeat", "root": root, "token": token, "fields": {"phase": "switch"}}, capsys, check_mode=True)
    assert beat["changed"] is False and beat["holder"]["phase"] == "switch"
    assert run_module({"action": "release", "root": root, "token": token}, capsys, check_mode=True)["changed"] is False
    assert not (tmp_path / "deploy.lock").exists()


def test_check_mode_against_a_real_lock_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(tmp_path)
    ok, real = Lock(tmp_path).acquire({"operator": "bob", "pid": 7})
    assert ok
    before = (tmp_path / "deploy.lock").read_bytes()
    busy = run_module({"action": "acquire", "root": root, "holder": {"operator": "alice"}}, capsys, check_mode=True)
    assert busy["acquired"] is False and busy["holder"] == real
    assert run_module({"action": "heartbeat", "root": root, "token": real["token"]}, capsys, check_mode=True)["changed"] is False
    assert run_module({"action": "release", "root": root, "token": real["token"]}, capsys, check_mode=True)["changed"] is False
    cleared = run_module({"action": "clear", "root": root, "token": real["token"]}, capsys, check_mode=True)
    assert cleared["changed"] is True, "check mode says the clear would remove it"
    refused = run_module({"action": "clear", "root": root, "token": "0a1b2c3d4e5f6a7b"}, capsys, check_mode=True)
    assert refused["failed"] and "changed since it was reported" in refused["msg"]
    assert (tmp_path / "deploy.lock").read_bytes() == before
