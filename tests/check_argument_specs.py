#!/usr/bin/env python3
"""Fail when a role's meta/argument_specs.yml drifts from its defaults/main.yml.

For every role: the options of the `main` entry point (for a library role without tasks/main.yml,
of all its entry points together, and every tasks file is an entry point) must be exactly the keys of
defaults/main.yml plus the required options and the secrets (`no_log: true`). Those have no
default on purpose: they come from inventory (Vault); a secret's default may only be empty.
Every option of every entry point needs a description and a type.
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def check_role(role: Path) -> list[str]:
    errors: list[str] = []
    defaults_file = role / "defaults" / "main.yml"
    specs_file = role / "meta" / "argument_specs.yml"
    if not specs_file.exists():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    defaults = (yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.exists() else {}
    specs = (yaml.safe_load(specs_file.read_text()) or {}).get("argument_specs", {})
    library = not (role / "tasks" / "main.yml").exists()
    if not library and "main" not in specs:
        return [f"{role.name}: argument_specs has no 'main' entry point"]
    for tasks_file in sorted((role / "tasks").glob("*.yml")) if library else []:
        if tasks_file.stem not in specs and not tasks_file.stem.startswith("_"):
            errors.append(f"{role.name}: entry point {tasks_file.name} has no argument_specs")
    for entry, spec in specs.items():
        for name, option in (spec.get("options") or {}).items():
            if not option.get("description"):
                errors.append(f"{role.name}: {entry}.{name} has no description")
            if not option.get("type"):
                errors.append(f"{role.name}: {entry}.{name} has no type")
            if not name.startswith(f"{role.name}_"):
                errors.append(f"{role.name}: {entry}.{name} is not prefixed with '{role.name}_'")
    # A library role (no tasks/main.yml, only entry points): its defaults belong to some entry point.
    options = ({k: v for spec in specs.values() for k, v in (spec.get("options") or {}).items()} if library
               else specs["main"].get("options") or {})
    required = {k for k, v in options.items() if v.get("required")}
    secrets = {k for k, v in options.items() if v.get("no_log")}
    for name in sorted(set(defaults) - set(options)):
        errors.append(f"{role.name}: default {name} is missing from argument_specs main")
    # A library role's entry points may take inputs without defaults (the caller passes them).
    for name in sorted(set() if library else set(options) - set(defaults) - required - secrets):
        errors.append(f"{role.name}: argument_specs main option {name} has no default (mark it required or add a default)")
    for name in sorted(required & set(defaults)):
        errors.append(f"{role.name}: required option {name} must not have a default (it comes from inventory)")
    for name in sorted(k for k in secrets & set(defaults) if defaults[k] not in (None, "", {}, [])):
        errors.append(f"{role.name}: secret {name} must not have a default (it comes from inventory)")
    return errors


def main() -> int:
    roles = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
    errors = [e for role in roles for e in check_role(role)]
    for e in errors:
        print(f"argument_specs drift: {e}")
    print(f"argument_specs: {len(roles)} role(s) checked, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
