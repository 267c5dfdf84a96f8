"""Filter of the monitoring role: metrics in the Prometheus text format for node exporter's textfile collector.

`monitoring_textfile(metrics)` accepts a list of {name, value, labels?, help?, type?} or a plain
mapping name -> value, and returns the file's content (HELP/TYPE once per metric name).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

from ansible.errors import AnsibleFilterError

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("gauge", "counter", "untyped")
RESERVED_LABELS = ("job", "instance")


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError(f"metric {name}: value {value!r} is not a number") from None
    if math.isnan(number):
        return "NaN"
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _normalise(metrics: Any) -> list[dict[str, Any]]:
    if isinstance(metrics, Mapping):
        return [{"name": name, "value": value} for name, value in metrics.items()]
    if isinstance(metrics, (list, tuple)):
        return [dict(m) for m in metrics]
    raise AnsibleFilterError("metrics must be a list of {name, value, labels} or a mapping name -> value")


def textfile(metrics: Any) -> str:
    """Prometheus text exposition of the given samples, one block per metric name."""
    samples = _normalise(metrics)
    if not samples:
        raise AnsibleFilterError("no metrics to write")
    order: list[str] = []
    by_name: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        name = str(sample.get("name", ""))
        if not METRIC_NAME.match(name):
            raise AnsibleFilterError(f"invalid metric name {name!r}")
        if name not in by_name:
            order.append(name)
            by_name[name] = []
        by_name[name].append(sample)
    lines: list[str] = []
    for name in order:
        group = by_name[name]
        help_text = next((s["help"] for s in group if s.get("help")), None)
        kind = next((s["type"] for s in group if s.get("type")), "gauge")
        if kind not in TYPES:
            raise AnsibleFilterError(f"metric {name}: type must be one of {TYPES}")
        if help_text:
            lines.append(f"# HELP {name} {str(help_text).replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {name} {kind}")
        for sample in group:
            labels = sample.get("labels") or {}
            for label in labels:
                if not LABEL_NAME.match(str(label)) or str(label).startswith("__"):
                    raise AnsibleFilterError(f"metric {name}: invalid label name {label!r}")
                if label in RESERVED_LABELS:
                    raise AnsibleFilterError(
                        f"metric {name}: label {label!r} is set by the scrape (it would arrive as exported_{label}); use another name"
                    )
            rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{rendered}}} {_number(name, sample.get('value'))}" if rendered
                         else f"{name} {_number(name, sample.get('value'))}")
    return "\n".join(lines) + "\n"


class FilterModule:
    """monitoring_textfile."""

    def filters(self) -> dict[str, Any]:
        return {"monitoring_textfile": textfile}
