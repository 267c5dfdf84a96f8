import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from check_argument_specs import check_role  # noqa: E402


def make_role(tmp_path: Path, defaults: dict, options: dict) -> Path:
    role = tmp_path / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "tasks").mkdir()
    (role / "tasks" / "main.yml").write_text("---\n[]\n")
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": {"main": {"options": options}}}))
    return role


def opt(**extra):
    return {"type": "str", "description": "x", **extra}


def test_matching_role_passes(tmp_path):
    role = make_role(tmp_path, {"demo_port": 1}, {"demo_port": opt(), "demo_password": opt(required=True)})
    assert check_role(role) == []


def test_default_missing_from_spec(tmp_path):
    role = make_role(tmp_path, {"demo_port": 1, "demo_extra": 2}, {"demo_port": opt()})
    assert check_role(role) == ["demo: default demo_extra is missing from argument_specs main"]


def test_spec_option_without_default(tmp_path):
    role = make_role(tmp_path, {}, {"demo_port": opt()})
    assert "has no default" in check_role(role)[0]


def test_required_secret_with_default_is_refused(tmp_path):
    role = make_role(tmp_path, {"demo_password": ""}, {"demo_password": opt(required=True)})
    assert "must not have a default" in check_role(role)[0]


def test_option_needs_description_and_prefix(tmp_path):
    role = make_role(tmp_path, {"port": 1}, {"port": {"type": "int"}})
    problems = check_role(role)
    assert any("no description" in p for p in problems)
    assert any("not prefixed" in p for p in problems)


def test_optional_secret_without_default_passes(tmp_path):
    role = make_role(tmp_path, {"demo_port": 1}, {"demo_port": opt(), "demo_token": opt(no_log=True)})
    assert check_role(role) == []


def test_secret_with_default_is_refused(tmp_path):
    role = make_role(tmp_path, {"demo_token": "x"}, {"demo_token": opt(no_log=True)})
    assert "secret demo_token must not have a default" in check_role(role)[0]


def test_library_role_entry_points_own_the_defaults(tmp_path):
    role = tmp_path / "lib"
    for sub in ("defaults", "meta", "tasks"):
        (role / sub).mkdir(parents=True)
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump({"lib_keep": 3}))
    (role / "tasks" / "prune.yml").write_text("---\n[]\n")
    (role / "tasks" / "list.yml").write_text("---\n[]\n")
    specs = {"prune": {"options": {"lib_keep": opt(type="int"), "lib_id": opt(required=True)}}}
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump({"argument_specs": specs}))
    assert check_role(role) == ["lib: entry point list.yml has no argument_specs"]
