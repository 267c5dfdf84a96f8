"""Operations inputs (the -e switches of deploy.yml, rollback.yml, snapshot.yml, maintenance.yml), checked
before the lock: a typo must never switch a safety off (a bake window of 'abc' seconds) or be read as
false ('maybe'). The table of switches is roles/deploy/vars/main.yml's __deploy_inputs."""
from __future__ import annotations

import re
from typing import Any, Mapping

from ansible.module_utils.parsing.convert_bool import BOOLEANS

UNDEFINED = "__bundle_undefined__"  # what the vars lookup answers for a switch nobody set


def _number(value: Any, kind: str) -> float | int:
    if isinstance(value, bool):
        raise ValueError("a boolean")
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        raise ValueError("not a whole number")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise ValueError("not a number") from None


def _items(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("not a comma-separated list")


def check_input(name: str, value: Any, spec: Mapping[str, Any]) -> str:
    """'' when value fits spec, else one line naming the variable, what it got and what it takes."""
    kind = spec.get("type", "str")
    takes = spec.get("doc", "")
    try:
        if kind in ("int", "float"):
            number = _number(value, kind)
            low, high = spec.get("min"), spec.get("max")
            if (low is not None and number < low) or (high is not None and number > high):
                raise ValueError(f"out of range {low if low is not None else '-inf'}..{high if high is not None else 'inf'}")
        elif kind == "bool":
            if value not in BOOLEANS and not (isinstance(value, str) and value.lower() in BOOLEANS):
                raise ValueError("not a boolean (true or false)")
        elif kind == "list":
            bad = [v for v in _items(value) if spec.get("choices") and v not in spec["choices"]]
            if bad:
                raise ValueError(f"{', '.join(bad)} not among {', '.join(spec['choices'])}")
        else:
            if not isinstance(value, str):
                raise ValueError("not a string")
            if spec.get("choices") and value not in spec["choices"]:
                raise ValueError(f"not one of {', '.join(map(str, spec['choices']))}")
            if spec.get("pattern") and not re.fullmatch(spec["pattern"], value):
                raise ValueError(spec.get("pattern_error") or f"does not match {spec['pattern']}")
    except ValueError as exc:
        return f"{name}={value!r}: {exc}; it takes {takes}."
    return ""


def bundle_check_inputs(values: list[Any], names: list[str], specs: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Problems of the switches that are set (values in the order of names, UNDEFINED for unset ones)."""
    found = [check_input(name, value, specs[name]) for name, value in zip(names, values) if value != UNDEFINED]
    return [line for line in found if line]


def examples(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A good value, one of the wrong type and (where the switch has a range, choices or a pattern) one out of
    range, for the tests that are generated from the table (unit and stack): a new switch is tested unasked."""
    kind = spec.get("type", "str")
    wrong_type = {"int": "abc", "float": "lots", "bool": "maybe", "list": 5}.get(kind, ["a", "list"])
    if kind in ("int", "float"):
        good: Any = str(spec["min"])
        out: Any = spec["min"] - 1 if spec["min"] > 0 or kind == "int" else -1
    elif kind == "bool":
        good, out = "true", None
    elif kind == "list":
        good, out = ",".join(spec.get("choices", ["x"])[:2]), ("not-a-choice" if spec.get("choices") else None)
    else:
        good = spec["choices"][0] if spec.get("choices") else "release-1"
        out = "not-a-choice" if spec.get("choices") else ("../etc/passwd" if spec.get("pattern") else None)
    return {"good": good, "wrong_type": wrong_type, "out_of_range": out}


def bundle_list(value: Any) -> list[str]:
    """A list switch as a list: "a, b" or [a, b]; anything else is [] (the inputs check refuses it by name)."""
    try:
        return _items(value)
    except ValueError:
        return []


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bundle_check_inputs": bundle_check_inputs, "bundle_list": bundle_list}
