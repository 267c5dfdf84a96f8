"""The fleet as observed (plugins/filter/bundle_fleet.py): one release, mixed, drained hosts put back."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from bundle_fleet import bundle_fleet  # noqa: E402

APPS = ["app1", "app2"]


def hv(app1: str | None, app2: str | None, drained: tuple[str, ...] = (), healthy: bool = True) -> dict:
    hosts: dict = {"proxy1": {"nginx_observed_upstream": {h: ("drained" if h in drained else "up") for h in APPS}}}
    for name, release in (("app1", app1), ("app2", app2)):
        hosts[name] = {} if release is None else {"app_observed": {"release": release, "healthy": healthy}}
    return hosts


def test_one_release_everywhere() -> None:
    fleet = bundle_fleet(APPS, hv("B", "B"), ["proxy1"])
    assert fleet["running"] == "B" and not fleet["mixed"] and fleet["summary"] == "B" and fleet["drained"] == []


def test_a_killed_switch_leaves_a_mixed_fleet_and_a_drained_host_that_is_put_back() -> None:
    """Issue 18's case: app1 already on C, app2 drained, still on B."""
    fleet = bundle_fleet(APPS, hv("C", "B", drained=("app2",)), ["proxy1"])
    assert fleet["running"] == "" and fleet["mixed"]
    assert fleet["summary"] == "MIXED (app1: C, app2: B)"
    assert fleet["drained"] == ["app2"] and fleet["undrain"] == ["app2"]


def test_a_drained_host_that_does_not_answer_stays_drained() -> None:
    fleet = bundle_fleet(APPS, hv("B", "B", drained=("app1",), healthy=False), ["proxy1"])
    assert fleet["drained"] == ["app1"] and fleet["undrain"] == []


def test_an_unobserved_host_means_no_single_release() -> None:
    fleet = bundle_fleet(APPS, hv("B", None), ["proxy1"])
    assert fleet["running"] == "" and fleet["unknown"] == ["app2"] and "app2: not observed" in fleet["summary"]


def test_nothing_deployed_yet() -> None:
    fleet = bundle_fleet(APPS, hv("", ""), ["proxy1"])
    assert fleet["running"] == "" and not fleet["mixed"] and fleet["summary"] == "nothing"
