"""Static checks of the monitoring role's alert rules; needs no promtool.

What runs where:
- here (pytest, any developer machine): every alert has a summary and a runbook line and a
  severity; every threshold and `for` duration comes from a `monitoring_alert_*` variable; every
  such variable is used; the rules render (with the role defaults) to valid YAML whose durations
  Prometheus accepts; every alert has a promtool test case and a README entry.
- on the monitor host (Molecule `monitoring` verify, and at converge time through `validate:`):
  `promtool check rules` on the rendered rules and `promtool test rules` on the rendered unit
  tests (roles/monitoring/templates/bundle.test.yml.j2).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"
sys.path.insert(0, str(ROOT / "plugins" / "filter"))

import monitoring_scrape  # noqa: E402

DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
VAR_REF = re.compile(r"\[\[\s*(\w+)[^\]]*\]\]")   # the rule file's variable delimiters: [[ name ]]
RULES_TEMPLATE = ROLE / "templates" / "bundle.rules.yml.j2"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


DEFAULTS: dict[str, Any] = _load(ROLE / "defaults" / "main.yml")
# The rule file as written (placeholders and all; the optional bundle-extra group is a Jinja block): a reader's view.
RAW = yaml.safe_load(re.sub(r"\{% if .*?\{% endif %\}\n", "", RULES_TEMPLATE.read_text(), flags=re.S))
RULES = [rule for group in RAW["groups"] for rule in group["rules"]]


def render(**overrides: Any) -> dict[str, Any]:
    """The rule file as the role writes it (the template module with [[ ]] variable delimiters)."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, variable_start_string="[[", variable_end_string="]]",
                             trim_blocks=True)
    env.filters["monitoring_duration_seconds"] = monitoring_scrape.duration_seconds
    env.filters["to_json"] = json.dumps
    return yaml.safe_load(env.from_string(RULES_TEMPLATE.read_text()).render(**{**DEFAULTS, "ansible_managed": "Ansible managed", **overrides}))


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return render()


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_every_alert_has_summary_runbook_and_severity(rule: dict[str, Any]) -> None:
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["runbook"].strip()
    assert rule["labels"]["severity"] in ("critical", "warning")


@pytest.mark.parametrize("rule", RULES, ids=[r["alert"] for r in RULES])
def test_for_durations_and_thresholds_come_from_variables(rule: dict[str, Any]) -> None:
    if "for" in rule:
        assert re.fullmatch(r"\[\[ monitoring_alert_\w+ \]\]", rule["for"]), rule["for"]
        assert VAR_REF.search(rule["for"]).group(1) in DEFAULTS
    expr = re.sub(r"\[[0-9]+[smhdwy]\]", "", rule["expr"])  # range selectors are not thresholds
    for op, number in re.findall(r"(>=|<=|>|<)\s*([0-9][0-9.]*)", expr):
        assert number == "0", f"{rule['alert']}: literal threshold {op} {number}: use a monitoring_alert_* variable"
    for name in VAR_REF.findall(rule["expr"]):
        assert name in DEFAULTS, name


def test_every_alert_variable_is_used() -> None:
    text = RULES_TEMPLATE.read_text()
    unused = [k for k in DEFAULTS if k.startswith("monitoring_alert_") and k != "monitoring_alert_extra_rules" and k not in text]
    assert not unused


def test_rules_render_to_prometheus_rule_groups(rendered: dict[str, Any]) -> None:
    names = [g["name"] for g in rendered["groups"]]
    assert len(names) == len(set(names))
    for rule in (r for g in rendered["groups"] for r in g["rules"]):
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert "{{ $labels" not in rule["expr"] and "{{" not in rule["expr"], rule["expr"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
    snapshot = next(r for g in rendered["groups"] for r in g["rules"] if r["alert"] == "SnapshotTooOld")
    assert snapshot["expr"].endswith("> 93600")  # default 26h in seconds
    # Prometheus's own templates reach the file as written.
    assert any("{{ $labels.instance }}" in r["annotations"]["summary"] for g in rendered["groups"] for r in g["rules"])


def test_extra_rules_are_appended_as_given() -> None:
    extra = {"alert": "Custom", "expr": "up == 2", "labels": {"severity": "warning"},
             "annotations": {"summary": "{{ $labels.instance }} custom", "runbook": "none"}}
    groups = render(monitoring_alert_extra_rules=[extra])["groups"]
    assert groups[-1] == {"name": "bundle-extra", "rules": [extra]}
    assert [g["name"] for g in render()["groups"]] == [g["name"] for g in groups[:-1]]


def test_every_alert_has_a_promtool_case_and_a_readme_entry() -> None:
    tests = (ROLE / "templates" / "bundle.test.yml.j2").read_text()
    readme = (ROLE / "README.md").read_text()
    for rule in RULES:
        assert f"'alert': '{rule['alert']}'" in tests, f"{rule['alert']} has no promtool test case"
        assert f"`{rule['alert']}`" in readme, f"{rule['alert']} is not in the README"


def test_textfile_metric_names_in_readme_match_the_rules() -> None:
    readme = (ROLE / "README.md").read_text()
    exprs = " ".join(r["expr"] for r in RULES)
    for metric in set(re.findall(r"\bbundle_[a-z_]+\b", exprs)):
        assert f"`{metric}" in readme, metric


def test_argument_specs_cover_defaults_and_entry_points() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert set(specs["main"]["options"]) == set(DEFAULTS)
    for entry in ("node", "textfile"):
        assert (ROLE / "tasks" / f"{entry}.yml").exists()
        assert set(specs[entry]["options"]) <= set(DEFAULTS) | {"monitoring_textfile_name", "monitoring_textfile_metrics"}
    readme = (ROLE / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in DEFAULTS)
