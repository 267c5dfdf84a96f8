"""Operations inputs: every switch of roles/deploy/vars/main.yml's __deploy_inputs is refused, naming itself,
for one value of the wrong type and (where it has a range, choices or a pattern) one out of range. The cases
are generated from the table, so a switch added to it is checked here without a new test."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "filter"))

from bundle_inputs import (UNDEFINED, bundle_check_inputs, bundle_preflight_fingerprint, bundle_preflight_hosts,  # noqa: E402
                           check_input, examples)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_VARS = yaml.safe_load((ROOT / "roles" / "deploy" / "vars" / "main.yml").read_text())
PATTERN = DEPLOY_VARS["__deploy_release_pattern"]
SPECS: dict[str, dict[str, Any]] = {
    name: {k: (PATTERN if v == "{{ __deploy_release_pattern }}" else v) for k, v in spec.items()}
    for name, spec in DEPLOY_VARS["__deploy_inputs"].items()
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_value_of_the_wrong_type_is_refused_by_name(name: str) -> None:
    problem = check_input(name, examples(SPECS[name])["wrong_type"], SPECS[name])
    assert problem.startswith(f"{name}=") and "it takes" in problem


@pytest.mark.parametrize("name", sorted(n for n, s in SPECS.items() if examples(s)["out_of_range"] is not None))
def test_a_value_out_of_range_is_refused_by_name(name: str) -> None:
    assert check_input(name, examples(SPECS[name])["out_of_range"], SPECS[name]).startswith(f"{name}=")


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_good_value_passes(name: str) -> None:
    assert check_input(name, examples(SPECS[name])["good"], SPECS[name]) == ""


def test_every_number_has_a_range_and_every_switch_says_what_it_takes() -> None:
    for name, spec in SPECS.items():
        assert spec.get("doc"), name
        if spec["type"] in ("int", "float"):
            assert spec.get("min") is not None and spec.get("max") is not None, name


def test_the_rows_of_the_issue() -> None:
    """Each value an operator typed by mistake (issue 25's table) is refused, never read as 0 or false."""
    names = ["deploy_bake_seconds", "lock_wait", "deploy_bake_threshold", "rollback_data"]
    problems = bundle_check_inputs(["abc", "-5", "lots", "maybe"], names, SPECS)
    assert [p.split("=")[0] for p in problems] == names


def test_unset_switches_are_not_checked_and_typed_values_pass() -> None:
    names = ["lock_wait", "rollback_data", "deploy_bake_threshold", "snapshot_services"]
    assert bundle_check_inputs([UNDEFINED, True, 0.01, ["postgres", "redis"]], names, SPECS) == []
    assert bundle_check_inputs(["300", "no", "0.5", "postgres,nfs"], names, SPECS) == []


def test_booleans_are_not_numbers_and_numbers_are_not_booleans() -> None:
    assert check_input("lock_wait", True, SPECS["lock_wait"])
    assert check_input("deploy_bake_seconds", "1.5", SPECS["deploy_bake_seconds"])
    assert check_input("rollback_data", 2, SPECS["rollback_data"])


def test_a_list_switch_is_read_as_a_list_whatever_was_typed() -> None:
    from bundle_inputs import bundle_list

    assert bundle_list("postgres, redis,,nfs") == ["postgres", "redis", "nfs"]
    assert bundle_list(["postgres"]) == ["postgres"]
    assert bundle_list(5) == [] and bundle_list({"a": 1}) == []


# The preflight fingerprint: the same inventory, role files and -e values give the same fingerprint; any
# change to them, a host moved between groups, or a role variable given with -e gives another.


def _project(tmp_path):
    inventory = tmp_path / "inventories" / "lab"
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text("all: {hosts: {a: {}}}\n")
    (inventory / "group_vars" / "all" / "main.yml").write_text("app_health_timeout: 90\n")
    spec = tmp_path / "roles" / "app" / "meta"
    spec.mkdir(parents=True)
    (spec / "argument_specs.yml").write_text("argument_specs: {}\n")
    (tmp_path / "playbooks").mkdir()
    return inventory


def test_fingerprint_changes_with_what_the_preflight_checks(tmp_path) -> None:
    inventory = _project(tmp_path)
    groups = {"app": ["a"], "all": ["a"]}
    ignored = ["deploy_bake_seconds", "app_source_dir"]

    def fp(argv, groups=groups):
        return bundle_preflight_fingerprint([str(inventory / "hosts.yml")], groups, str(tmp_path), ignored, argv)

    base = fp(["playbooks/deploy.yml"])
    assert base == fp(["playbooks/deploy.yml"])
    # operations inputs and the release to deploy do not change what the roles check
    assert fp(["-e", '{"deploy_bake_seconds": 5, "app_source_dir": "/tmp/x"}']) == base
    assert fp(["-e", "deploy_bake_seconds=5"]) == base
    # a role variable given with -e does
    assert fp(["-e", "app_health_timeout=abc"]) != base
    assert fp(["--extra-vars={\"app_health_timeout\": 1}"]) != base
    # as does a change to group_vars, to a role's argument specs, or to the groups
    (inventory / "group_vars" / "all" / "main.yml").write_text("app_health_timeout: 91\n")
    changed = fp(["playbooks/deploy.yml"])
    assert changed != base
    (tmp_path / "roles" / "app" / "meta" / "argument_specs.yml").write_text("argument_specs: {main: {}}\n")
    assert fp(["playbooks/deploy.yml"]) != changed
    assert fp(["playbooks/deploy.yml"], {"app": ["a", "b"], "all": ["a", "b"]}) != fp(["playbooks/deploy.yml"])


def test_the_fingerprint_reads_the_checkouts_roles_whichever_playbook_imports_the_phase() -> None:
    # playbook_dir is playbooks/phases/ in an imported phase: a project root taken from it had no roles/, so no role
    # file was part of the fingerprint. The deploy role's root is its own checkout's.
    assert DEPLOY_VARS["__deploy_project_root"] == "{{ role_path | dirname | dirname }}"
    assert DEPLOY_VARS["__deploy_preflight_cache"].startswith("{{ __deploy_project_root }}/")
    for path in (ROOT / "roles").rglob("*.yml"):
        assert "playbook_dir" not in "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")), path
    role_path = ROOT / "roles" / "deploy"
    assert (role_path.parent.parent / "roles" / "app" / "meta" / "argument_specs.yml").is_file()


# The hosts a run's preflight asks, decided once (the run's record; the preflight play and the fingerprint read it).
GROUPS = {"all": ["app1", "app2", "proxy1", "db1", "registry1"], "app": ["app1", "app2"], "proxy": ["proxy1"], "db": ["db1"]}


@pytest.mark.parametrize("data", [False, None, "false", "No", "off", "0", 0])
def test_a_code_only_rollback_asks_the_app_hosts_and_proxies_alone(data) -> None:
    assert bundle_preflight_hosts("rollback", data, GROUPS) == ["app1", "app2", "proxy1"]


@pytest.mark.parametrize("data", [True, "true", "YES", "on", "1", 1, "maybe", ["x"]])
def test_a_rollback_with_data_or_an_unsure_one_asks_every_host(data) -> None:
    assert bundle_preflight_hosts("rollback", data, GROUPS) == GROUPS["all"]


@pytest.mark.parametrize("command", ["deploy", "snapshot", "maintenance"])
def test_every_other_run_asks_every_host(command) -> None:
    assert bundle_preflight_hosts(command, False, GROUPS) == GROUPS["all"]
    assert bundle_preflight_hosts("rollback", False, {"all": ["app1"], "app": ["app1"]}) == ["app1"]  # no proxy group


def test_the_preflight_host_set_is_decided_in_one_place() -> None:
    # the preflight play and the fingerprint read deploy_run.preflight_hosts; nothing else re-derives it from rollback_data
    begin = (ROOT / "roles" / "deploy" / "tasks" / "begin.yml").read_text()
    assert "bundle_preflight_hosts(rollback_data" in begin and "deploy_run.preflight_hosts | join(',')" in begin
    phase = (ROOT / "playbooks" / "phases" / "begin.yml").read_text()
    assert "['deploy_run']['preflight_hosts']" in phase and "rollback_data" not in phase


def test_extra_vars_are_read_in_every_form_ansible_takes(tmp_path) -> None:
    # the fingerprint and the keeper's ad hoc call read the command line with one scanner (_options)
    from bundle_inputs import _extra_vars  # noqa: PLC0415
    values = tmp_path / "vars.yml"
    values.write_text("a: 1\n")
    argv = ["-i", "inv", "p.yml", "-e", "x=1", "--extra-vars={\"y\": 2}", "-ez=3", "--extra-vars", f"@{values}", "-v", "-u", "ops"]
    assert _extra_vars(argv) == ["x=1", '{"y": 2}', "z=3", "a: 1\n"]
