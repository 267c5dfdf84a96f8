"""Filters for the registry role: checks of the users from inventory and the htpasswd file's content.

`registry_user_problems(users, min_length)` lists what is wrong with `registry_users` (names and
reasons only: a password never appears in a message); `registry_password_problem(password,
min_length)` says what is wrong with one password (None when nothing).
`registry_htpasswd_stale(users, existing, verified, cost)` names the users whose existing line
cannot be kept: missing, password not verified by `htpasswd -v`, not bcrypt, or a cost below `cost`.
`registry_htpasswd_content(users, existing, verified, generated, cost)` is the htpasswd file the
registry reads: kept lines, and the lines `htpasswd -nB` generated for the stale users; users no
longer in `registry_users` are left out. So a converged host keeps its hashes (no change).
"""
from __future__ import annotations

import re
from typing import Any

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Values copied from an example file instead of being generated: refused whatever their length.
PLACEHOLDER = re.compile(r"^(change[-_ .]?me|changeit|replace[-_ .]?me|todo|fixme|example|password|secret|xxx)", re.I)
BCRYPT = re.compile(r"^\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}$")


def registry_password_problem(password: Any, min_length: int) -> str | None:
    """Why a password is not acceptable (None when it is); never includes the password."""
    if not isinstance(password, str) or password == "":
        return "has no password (set it in inventory, Vault in real environments)"
    if len(password) < int(min_length):
        return f"has a password shorter than {int(min_length)} characters (registry_password_min_length)"
    if re.search(r"\s", password):
        return "has a password with whitespace (stdin-fed tools would cut it)"
    if PLACEHOLDER.match(password):
        return "has a placeholder password (like 'change-me...'): generate a real one"
    return None


def registry_user_problems(users: Any, min_length: Any) -> list[str]:
    """Problems of registry_users, one message per problem, naming the user but never the password."""
    if not isinstance(users, list) or not users:
        return ["registry_users must be a non-empty list of {name, password} from inventory"]
    problems: list[str] = []
    seen: set[str] = set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            problems.append(f"registry_users[{index}] must be a mapping with name and password")
            continue
        name = user.get("name")
        label = f"registry_users[{index}]" if not isinstance(name, str) else f"registry_users '{name}'"
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"{label}: name must be letters, digits, '.', '_' or '-' (no ':'), starting with a letter or digit")
        elif name in seen:
            problems.append(f"{label}: name is listed twice")
        else:
            seen.add(name)
        reason = registry_password_problem(user.get("password"), int(min_length))
        if reason:
            problems.append(f"{label} {reason}")
    return problems


def registry_htpasswd_entries(text: Any) -> dict[str, str]:
    """name -> whole line of an htpasswd file (comments and blank lines ignored)."""
    entries: dict[str, str] = {}
    for line in str(text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and ":" in line:
            entries[line.split(":", 1)[0]] = line
    return entries


def _bcrypt_cost(line: str) -> int | None:
    match = BCRYPT.match(line.split(":", 1)[1]) if ":" in line else None
    return int(match["cost"]) if match else None


def registry_htpasswd_stale(users: list[dict[str, Any]], existing: Any, verified: list[str], cost: Any) -> list[str]:
    """Names of users whose existing line cannot be kept (missing, wrong password, not bcrypt, cost too low)."""
    current = registry_htpasswd_entries(existing)
    stale: list[str] = []
    for user in users:
        name = user["name"]
        old_cost = _bcrypt_cost(current[name]) if name in current else None
        if name not in verified or old_cost is None or old_cost < int(cost):
            stale.append(name)
    return stale


def registry_htpasswd_content(users: list[dict[str, Any]], existing: Any, verified: list[str],
                              generated: list[str], cost: Any) -> str:
    """The htpasswd file for users, in their order: kept existing lines, generated ones for stale users."""
    current = registry_htpasswd_entries(existing)
    fresh = registry_htpasswd_entries("\n".join(generated))
    stale = set(registry_htpasswd_stale(users, existing, verified, cost))
    lines: list[str] = []
    for user in users:
        name = user["name"]
        if name not in stale:
            lines.append(current[name])
        elif name in fresh and _bcrypt_cost(fresh[name]) is not None:
            lines.append(fresh[name])
        else:
            raise ValueError(f"registry_htpasswd_content: no verified or generated bcrypt hash for user '{name}'")
    return "".join(line + "\n" for line in lines)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "registry_password_problem": registry_password_problem,
            "registry_user_problems": registry_user_problems,
            "registry_htpasswd_content": registry_htpasswd_content,
            "registry_htpasswd_stale": registry_htpasswd_stale,
        }
