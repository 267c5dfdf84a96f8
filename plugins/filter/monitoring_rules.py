"""Filters of the monitoring role for alert rules and their promtool unit tests.

`monitoring_alert_rule(groups, name)` finds a rule by alert name; `monitoring_expand_annotations`
expands `{{ $labels.x }}` in a rule's annotations the way Prometheus does, so a promtool test can
state the exact annotations it expects.
"""
from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ansible.errors import AnsibleFilterError

LABEL_REF = re.compile(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def alert_rule(groups: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    """The alerting rule called `name` in a list of rule groups."""
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("alert") == name:
                return dict(rule)
    raise AnsibleFilterError(f"no alert rule named {name!r}")


def expand_annotations(annotations: Mapping[str, Any], labels: Mapping[str, Any]) -> dict[str, str]:
    """Annotations with {{ $labels.x }} replaced by the label's value ('' when absent, as Prometheus does)."""
    return {key: LABEL_REF.sub(lambda m: str(labels.get(m.group(1), "")), str(value)) for key, value in annotations.items()}


def alert_expectation(labels: Mapping[str, Any], annotations: Mapping[str, Any]) -> dict[str, Any]:
    """One promtool `exp_alerts` entry: the alert's labels and its annotations expanded with them."""
    return {"exp_labels": dict(labels), "exp_annotations": expand_annotations(annotations, labels)}


def rule_names(groups: Sequence[Mapping[str, Any]]) -> list[str]:
    """Alert names of every alerting rule, in order."""
    return [str(rule["alert"]) for group in groups for rule in group.get("rules", []) if "alert" in rule]


class FilterModule:
    """monitoring_alert_rule, monitoring_expand_annotations, monitoring_alert_expectation, monitoring_alert_names."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_alert_rule": alert_rule,
            "monitoring_expand_annotations": expand_annotations,
            "monitoring_alert_names": rule_names,
            "monitoring_alert_expectation": alert_expectation,
        }
