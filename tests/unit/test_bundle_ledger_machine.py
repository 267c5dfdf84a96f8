"""The release ledger as a state machine (issue 25): random sequences of deploys, rollbacks and site.yml
converges against a real Ledger in a temp folder, the invariants checked after every step.

A step is one run holding the lock (runs never interleave); within a run the events follow the playbooks
(begin, switch, bake passed or failed, revert, abort, controller lost) and stop where a drawn path says.
Invariants: current.json names the release of the last completed switch; a release is bad only after a
bake or health failure; no request made after hosts changed raises; a rollback target exists whenever
another good release does; aborted releases are deployable.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, event, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "module_utils"))

import bundle_ledger  # noqa: E402
from bundle_ledger import Ledger, LedgerError  # noqa: E402

POOL = ("r0", "r1", "r2", "r3", "r4")  # small, so deploys often hit an existing record
RUNNING = "(the running release)"  # a deploy of the release current.json names
# What happens in a deploy after its begin, event by event; a path that stops early lost its controller.
DEPLOY_PATHS = {
    "passes": ("switch", "bake passed"),
    "fails its bake, reverted": ("switch", "bake failed", "revert"),
    "fails its bake, revert incomplete": ("switch", "bake failed", "revert incomplete"),
    "fails its bake, controller lost": ("switch", "bake failed"),
    "fails its bake, aborted in the revert": ("switch", "bake failed", "abort"),
    "fails while switching, reverted": ("revert",),
    "fails while switching, revert incomplete": ("revert incomplete",),
    "aborted in its bake, reverted": ("switch", "abort"),
    "aborted in its bake, revert incomplete": ("switch", "abort incomplete"),
    "aborted while switching, reverted": ("abort",),
    "controller lost while switching": (),
    "controller lost in its bake": ("switch",),
}


@pytest.fixture(autouse=True)
def fast_ledger(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock one second per write (orders records without sleeping) and no fsync (thousands of writes)."""
    ticks = iter(range(1_800_000_000, 1_900_000_000))
    monkeypatch.setattr(bundle_ledger, "utc_now", lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(next(ticks))))
    monkeypatch.setattr(bundle_ledger.os, "fsync", lambda fd: None)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="ledger-machine-"))
        self.ledger = Ledger(self.root)
        self.current = ""  # the release of the last completed switch, as the playbooks recorded it
        self.failed: set[str] = set()  # releases a bake or health failure was applied to

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------------------
    def after_switch(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """A ledger request made after hosts changed: a refusal here wedges the environment."""
        try:
            return call(*args)
        except LedgerError as exc:
            raise AssertionError(f"{what} raised after hosts changed: {exc}") from exc

    def status(self, release: str) -> str:
        return str((self.ledger.get(release) or {}).get("status", ""))

    def files(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.root.rglob("*.json"))}

    def other_goods(self) -> list[str]:
        return [r["release"] for r in self.ledger.records() if r.get("status") == "good" and r["release"] != self.current]

    # --- events of a deploy (deploy.yml: target.yml, ledger_begin.yml, phases/bake.yml, phases/revert.yml) ---
    def deploy_begins(self, release: str) -> bool:
        """The check and begin, before any host changes: a bad release is refused and nothing changes."""
        if release in self.failed:
            before = self.files()
            with pytest.raises(LedgerError, match="never deployed again"):
                self.ledger.deployable(release)
            with pytest.raises(LedgerError, match="never deployed again"):
                self.ledger.begin(release, {"previous": self.current})
            assert self.files() == before, "a refusal changes nothing"
            return False
        self.ledger.deployable(release)
        assert self.ledger.begin(release, {"previous": self.current})["status"] == "unfinished"
        return True

    def switch_done(self, release: str) -> None:
        self.after_switch("bake: live", self.ledger.update, release, {"hosts_switched": ["app1", "app2"]}, "live")
        self.after_switch("bake: current", self.ledger.set_current, release)
        self.current = release
        assert self.status(release) == "live"

    def bake_passed(self, release: str) -> None:
        self.after_switch("bake: good", self.ledger.update, release, {}, "good")
        assert self.status(release) == "good"

    def bake_failed(self, release: str) -> None:
        self.after_switch("bake failed: bad", self.ledger.update, release, {"failure": "bake: 5xx"}, "bad")
        self.failed.add(release)

    def revert(self, release: str, previous: str, every_host_back: bool) -> None:
        """After a health failure: the release bad, the previous one good and current when every host went back."""
        self.after_switch("revert: bad", self.ledger.update, release, {"failure": "health"}, "bad", "reverted")
        self.failed.add(release)
        self.back_to_previous(previous, every_host_back)
        assert self.status(release) == "bad", "bad stays bad, also when it was the previous release too"

    def abort(self, release: str, previous: str, every_host_back: bool) -> None:
        """An environment failure (host unreachable, monitoring down, lock lost): reverted like a failure, not bad."""
        self.after_switch("abort: aborted", self.ledger.update, release, {}, "aborted", "monitoring down")
        self.back_to_previous(previous, every_host_back)
        expected = "bad" if release in self.failed else "good" if every_host_back and release == previous else "aborted"
        assert self.status(release) == expected

    def back_to_previous(self, previous: str, every_host_back: bool) -> None:
        if every_host_back and previous:
            self.after_switch("revert: previous good", self.ledger.update, previous, {}, "good", "fleet reverted to it")
            self.after_switch("revert: current", self.ledger.set_current, previous)
            self.current = previous

    # About half the deploys pass, so that rollbacks have targets.
    @rule(release=st.sampled_from((RUNNING, *POOL)), path=st.one_of(st.just("passes"), st.sampled_from(sorted(DEPLOY_PATHS))))
    def deploy(self, release: str, path: str) -> None:
        release = (self.current or POOL[0]) if release == RUNNING else release
        previous = self.current
        if not self.deploy_begins(release):
            return
        event(f"deploy {path}")
        for step in DEPLOY_PATHS[path]:
            if step == "switch":
                self.switch_done(release)
            elif step == "bake passed":
                self.bake_passed(release)
            elif step == "bake failed":
                self.bake_failed(release)
            elif step.startswith("revert"):
                self.revert(release, previous, every_host_back=step == "revert")
            else:
                self.abort(release, previous, every_host_back=step == "abort")

    # --- rollback.yml (target.yml's rollback_plan.yml, then rollback_finish.yml) -----------------
    def plan(self, requested: str) -> dict[str, Any] | None:
        """A refusal is allowed only here, before hosts change, and only when justified."""
        before = self.files()
        try:
            target = self.ledger.rollback_target(requested)
        except LedgerError:
            assert self.files() == before, "a refusal changes nothing"
            if requested:
                status = self.status(requested)
                assert not status or status not in ("good", "rolled-back") or requested == self.current, requested
            else:
                assert not self.other_goods(), "refused although another good release exists"
            return None
        assert target["current"] == self.current and target["release"] != self.current
        assert target["release"] not in self.failed
        assert self.status(target["release"]) in ("good", "rolled-back"), "never unfinished, live, aborted or bad"
        return target

    @rule(requested=st.sampled_from(("", "", "", *POOL, "zz-unknown")),  # mostly the default target
          finish=st.sampled_from(("every host", "rolled-back only", "hosts mixed")))
    def rollback(self, requested: str, finish: str) -> None:
        """Every host switched; or the controller died after the first ledger step; or some hosts did not
        switch (nothing recorded: the summary says run it again)."""
        target = self.plan(requested)
        if target is None or finish == "hosts mixed":
            return
        previous, release = self.current, target["release"]
        event(f"rollback away from {self.status(previous) or 'nothing'}")
        if previous:
            self.after_switch("rollback: rolled-back", self.ledger.update, previous, {}, "rolled-back", f"rolled back to {release}")
        if finish == "every host":
            self.after_switch("rollback: good", self.ledger.update, release, {}, "good", f"rollback from {previous}")
            self.after_switch("rollback: current", self.ledger.set_current, release)
            self.current = release

    # --- site.yml (adopt.yml) ------------------------------------------------------------------
    @initialize(first=st.sampled_from(("r0", "r0", "r0", "")))  # mostly a converged stack, sometimes an empty ledger
    def site_converged(self, first: str) -> None:
        self.site_adopts(first)

    @precondition(lambda self: self.current == "")
    @rule(release=st.sampled_from(POOL))
    def site_adopts(self, release: str) -> None:
        """The converged release enters as good and current; nothing once the ledger names a running release."""
        if not release or self.current or release in self.failed:  # adopt.yml's `when`; a failed one: see the report
            return
        self.after_switch("adopt: begin", self.ledger.begin, release, {"installed_by": "site.yml"})
        self.after_switch("adopt: live", self.ledger.update, release, {}, "live", "installed by site.yml")
        self.after_switch("adopt: good", self.ledger.update, release, {}, "good", "installed by site.yml")
        self.after_switch("adopt: current", self.ledger.set_current, release)
        self.current = release

    # --- invariants ----------------------------------------------------------------------------
    @invariant()
    def current_is_the_last_completed_switch(self) -> None:
        path = self.root / "current.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        assert isinstance(data.get("release", ""), str) and set(data) <= {"release", "since"}
        assert self.ledger.current() == self.current

    @invariant()
    def bad_only_after_a_failure_and_for_good(self) -> None:
        records = self.ledger.records()
        assert all(r.get("status") in bundle_ledger.STATUSES for r in records)
        assert {r["release"] for r in records if r.get("status") == "bad"} == self.failed

    @invariant()
    def aborted_releases_are_deployable(self) -> None:
        for record in self.ledger.records():
            if record.get("status") == "aborted":
                assert self.ledger.deployable(record["release"])["status"] == "aborted"

    @invariant()
    def never_wedged(self) -> None:
        assert self.ledger.deployable("new-release") is None, "a new release id is always deployable"
        if self.other_goods():
            assert self.ledger.rollback_target()["release"] != self.current


LedgerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None, database=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestLedgerMachine = LedgerMachine.TestCase
