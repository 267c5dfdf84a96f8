"""Every role's README follows the template of docs/conventions.md ("The README template").

- the title is "# Role `<name>`";
- the template's `##` sections are there, in the template's order (a heading may add a qualifier in
  parentheses, "## Entry points (`tasks_from`)"; other sections may stand between them);
  a library role (no tasks/main.yml) has no "What a converge does"; "Snapshots" is for the roles
  with a snapshot.yml entry point, and points at the contract in docs/conventions.md#snapshots;
- a table of the "Variables" section has a row for every key of defaults/main.yml and every required
  or secret (`no_log`) option of `main` in meta/argument_specs.yml: the name in backticks in its first
  cell; the required and secret options of the other entry points are named somewhere in the README.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (ROOT / "roles").iterdir() if p.is_dir())
CONVERGE = "What a converge does"
SNAPSHOTS = "Snapshots"
TEMPLATE = (CONVERGE, "Entry points", "Variables", SNAPSHOTS, "What the lab can and cannot exercise")


def sections(text: str) -> dict[str, str]:
    """Level-2 headings (outside fenced code) mapped to the text below them, up to the next one."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            current = found.setdefault(line[3:].strip(), [])
            continue
        if current is not None:
            current.append(line)
    return {heading: "\n".join(lines) for heading, lines in found.items()}


def find(headings: list[str], wanted: str) -> str | None:
    """The first heading that is `wanted`, or `wanted` followed by a qualifier in parentheses."""
    return next((h for h in headings if h == wanted or h.startswith(f"{wanted} (")), None)


def is_library(role: Path) -> bool:
    return not (role / "tasks" / "main.yml").exists()


def expected_sections(role: Path) -> list[str]:
    skip = {CONVERGE} if is_library(role) else set()
    if not (role / "tasks" / "snapshot.yml").exists():
        skip.add(SNAPSHOTS)
    return [s for s in TEMPLATE if s not in skip]


def defaults(role: Path) -> list[str]:
    path = role / "defaults" / "main.yml"
    return list(yaml.safe_load(path.read_text()) or {}) if path.exists() else []


def required_or_secret(role: Path) -> dict[str, set[str]]:
    """Required or no_log options per entry point of meta/argument_specs.yml."""
    path = role / "meta" / "argument_specs.yml"
    specs = (yaml.safe_load(path.read_text()) or {}).get("argument_specs", {}) if path.exists() else {}
    return {entry: {name for name, option in (spec.get("options") or {}).items()
                    if option.get("required") or option.get("no_log")}
            for entry, spec in specs.items()}


def readme(role: Path) -> str:
    path = role / "README.md"
    assert path.exists(), f"roles/{role.name}/README.md is missing (template: docs/conventions.md)"
    return path.read_text()


def named(text: str, names: Iterable[str]) -> list[str]:
    """The names (in their order) that `text` does not mention in backticks."""
    return [name for name in names if f"`{name}`" not in text]


def first_cells(section: str) -> str:
    """The first cells of the table rows of a section, where a variables table names its variables."""
    return "\n".join(line.split("|")[1] for line in section.splitlines() if line.startswith("|") and line.count("|") > 2)


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_title_names_the_role(role: Path) -> None:
    lines = readme(role).splitlines()
    first = lines[0] if lines else ""
    assert first == f"# Role `{role.name}`", f"roles/{role.name}/README.md: first line {first!r}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_template_sections_in_order(role: Path) -> None:
    headings = list(sections(readme(role)))
    wanted = expected_sections(role)
    found = [find(headings, s) for s in wanted]
    missing = [s for s, heading in zip(wanted, found) if heading is None]
    assert not missing, f"roles/{role.name}/README.md lacks the sections {missing}; it has {headings}"
    order = [headings.index(heading) for heading in found if heading is not None]
    assert order == sorted(order), f"roles/{role.name}/README.md: sections out of the template's order {wanted}: {headings}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_variables_section_names_every_default(role: Path) -> None:
    parts = sections(readme(role))
    heading = find(list(parts), "Variables")
    assert heading, f"roles/{role.name}/README.md has no Variables section"
    missing = named(first_cells(parts[heading]), defaults(role))
    assert not missing, f"roles/{role.name}/README.md: no row of the Variables table for the defaults {missing}"


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_required_and_secret_variables_are_named(role: Path) -> None:
    text = readme(role)
    parts = sections(text)
    options = required_or_secret(role)
    heading = find(list(parts), "Variables")
    main = sorted(options.get("main", set()))
    in_variables = named(first_cells(parts[heading]), main) if heading else main
    others = sorted(set().union(*options.values()) - options.get("main", set())) if options else []
    assert not in_variables, f"roles/{role.name}/README.md: no row of the Variables table for required/secret {in_variables}"
    assert not named(text, others), f"roles/{role.name}/README.md never names required/secret {named(text, others)}"


@pytest.mark.parametrize("role", [r for r in ROLES if (r / "tasks" / "snapshot.yml").exists()],
                         ids=lambda r: r.name)
def test_snapshots_section_points_at_the_contract(role: Path) -> None:
    parts = sections(readme(role))
    heading = find(list(parts), SNAPSHOTS)
    assert heading and "docs/conventions.md#snapshots" in parts[heading], (
        f"roles/{role.name}/README.md: the Snapshots section must link docs/conventions.md#snapshots")


def test_sections_skip_fenced_code_and_keep_qualifiers() -> None:
    text = "# Role `x`\n## Entry points (`tasks_from`)\n```yaml\n## not a heading\n```\nrows\n## Variables\n`x_a`\n"
    parts = sections(text)
    assert list(parts) == ["Entry points (`tasks_from`)", "Variables"]
    assert find(list(parts), "Entry points") == "Entry points (`tasks_from`)"
    assert find(list(parts), "Entry") is None
    assert named(parts["Variables"], ["x_a", "x_b"]) == ["x_b"]
    table = first_cells("| variable | default |\n| --- | --- |\n| `x_a` | `x_c` |\nsee `x_b`\n")
    assert named(table, ["x_a", "x_b", "x_c"]) == ["x_b", "x_c"]
