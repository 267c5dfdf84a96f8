"""Operations inputs (the -e switches of deploy.yml, rollback.yml, snapshot.yml, maintenance.yml), checked
before the lock: a typo must never switch a safety off (a bake window of 'abc' seconds) or be read as
false ('maybe'). The table of switches is roles/deploy/vars/main.yml's __deploy_inputs."""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

from ansible.module_utils.parsing.convert_bool import BOOLEANS, BOOLEANS_FALSE

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


def _options(argv: list[str], with_value: set[str], flags: set[str] = frozenset()) -> list[tuple[str, str | None, list[str]]]:
    """The options of a command line that are among with_value (given as "-e V", "--extra-vars=V" or "-eV") or
    flags, in their order: (option, its value or None, the words as given)."""
    found: list[tuple[str, str | None, list[str]]] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in with_value and i + 1 < len(argv):
            found.append((arg, argv[i + 1], [arg, argv[i + 1]]))
            i += 1
        elif arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in with_value:
            name, value = arg.split("=", 1)
            found.append((name, value, [arg]))
        elif not arg.startswith("--") and len(arg) > 2 and arg[:2] in with_value:
            found.append((arg[:2], arg[2:], [arg]))  # -e{...}, -uroot
        elif arg in flags:
            found.append((arg, None, [arg]))
        i += 1
    return found


def _extra_vars(argv: list[str]) -> list[str]:
    """The -e/--extra-vars values of an ansible-playbook command line, @files read."""
    values = []
    for _, value, _ in _options(argv, {"-e", "--extra-vars"}):
        if value is not None and value.startswith("@") and Path(value[1:]).is_file():
            value = Path(value[1:]).read_text(encoding="utf-8", errors="replace")
        values.append(str(value))
    return values


# The ansible-playbook options an ad hoc call to the same hosts needs (the lock keeper's heartbeats): connection,
# privilege, vault and -e values, as the operator gave them. Inventory sources are passed apart, resolved.
_WITH_VALUE = {"-e", "--extra-vars", "-u", "--user", "--private-key", "--key-file", "-c", "--connection", "-T", "--timeout",
               "--ssh-common-args", "--ssh-extra-args", "--vault-id", "--vault-password-file", "--vault-pass-file",
               "--become-method", "--become-user", "-M", "--module-path"}
_FLAGS = {"-b", "--become"}


def bundle_adhoc_options(sources: Iterable[str] = (), argv: list[str] | None = None) -> list[str]:
    """-i for each inventory source, then those options of this ansible-playbook command line (or argv), in their
    order, each with its value."""
    args = list(sys.argv[1:] if argv is None else argv)
    return ([word for source in sources for word in ("-i", str(source))]
            + [word for _, _, words in _options(args, _WITH_VALUE, _FLAGS) for word in words])


def _without(value: str, ignored: set[str]) -> str:
    """One -e value without the switches in `ignored` (JSON, or key=value words; YAML files stay whole)."""
    try:
        data = json.loads(value)
        if isinstance(data, dict):
            kept = {k: v for k, v in data.items() if k not in ignored}
            return json.dumps(kept, sort_keys=True, default=str) if kept else ""
    except ValueError:
        pass
    try:
        words = shlex.split(value)
    except ValueError:
        return value
    if words and all("=" in w for w in words):
        return " ".join(sorted(w for w in words if w.split("=", 1)[0] not in ignored))
    return value


def bundle_preflight_fingerprint(sources: Iterable[str], groups: Mapping[str, Any], project: str,
                                 ignored: Iterable[str] = (), argv: list[str] | None = None) -> str:
    """What the roles' preflight of an operations run depends on, as a sha256: every file of the inventory
    sources (a file's group_vars/ and host_vars/ beside it), the hosts of every group, the roles' argument
    specs, defaults, vars and preflight tasks, and the -e values of this command line without the `ignored`
    switches (the operations inputs, checked on every run, and the release to deploy). A run whose
    fingerprint passed the full preflight before skips the roles' checks; anything else runs them."""
    digest = hashlib.sha256()
    files: set[Path] = set()
    for source in sources:
        path = Path(source)
        roots = [path] if path.is_dir() else [path, path.parent / "group_vars", path.parent / "host_vars"]
        for root in roots:
            if root.is_file():
                files.add(root)
            elif root.is_dir():
                files.update(f for f in root.rglob("*") if f.is_file() and ".git" not in f.parts)
    roles = Path(project) / "roles"
    for pattern in ("*/meta/argument_specs.yml", "*/defaults/**/*", "*/vars/**/*", "*/tasks/preflight.yml", "*/tasks/_*check*.yml"):
        files.update(f for f in roles.glob(pattern) if f.is_file())
    playbook_vars = Path(project) / "playbooks"
    for folder in ("group_vars", "host_vars"):
        if (playbook_vars / folder).is_dir():
            files.update(f for f in (playbook_vars / folder).rglob("*") if f.is_file())
    for f in sorted(files):
        digest.update(str(f.resolve()).encode() + b"\0" + f.read_bytes() + b"\0")
    digest.update(json.dumps({k: sorted(v) for k, v in groups.items()}, sort_keys=True).encode())
    skip = set(ignored)
    for value in _extra_vars(list(sys.argv[1:] if argv is None else argv)):
        if kept := _without(value, skip):
            digest.update(b"-e\0" + kept.encode() + b"\0")
    return digest.hexdigest()


def bundle_preflight_hosts(command: str, rollback_data: Any, groups: Mapping[str, Any]) -> list[str]:
    """The hosts an operations run's preflight asks, decided once for the run (its record keeps them, the
    preflight play and the fingerprint read them): a code-only rollback changes the app hosts and the proxies
    alone, so a data host down, or its maintenance job running, does not hold it back; every other run (a deploy
    snapshots the data and builds on the registry host, a rollback with data restores it) asks every host.
    rollback_data that is not a boolean counts as true (every host asked): the inputs check refuses it anyway."""
    value = rollback_data.lower() if isinstance(rollback_data, str) else rollback_data
    code_only = value is None or (isinstance(value, (str, int)) and value in BOOLEANS_FALSE)
    if command == "rollback" and code_only:
        chosen = set(groups.get("app", [])) | set(groups.get("proxy", []))
        return [name for name in groups["all"] if name in chosen]
    return list(groups["all"])


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bundle_adhoc_options": bundle_adhoc_options, "bundle_check_inputs": bundle_check_inputs, "bundle_list": bundle_list,
                "bundle_preflight_fingerprint": bundle_preflight_fingerprint, "bundle_preflight_hosts": bundle_preflight_hosts}
