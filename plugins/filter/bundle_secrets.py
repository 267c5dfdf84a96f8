"""Filter shared by the roles' preflights: what is wrong with a secret, without ever showing it.

bundle_secret_problem(value, min_length): '' when the value can be a secret, else why not
('not set', 'shorter than N characters', 'contains spaces', 'a placeholder from an example').
"""
from __future__ import annotations

import re
from typing import Any

# What example files and tutorials put where a secret belongs (the vault examples use change-me-...).
PLACEHOLDER = re.compile(r"change[-_ ]?me|changeit|placeholder|example|secret[-_]?here|your[-_]?(pass|secret|key)|^x{6,}$|^(password|secret)\d*$",
                         re.IGNORECASE)


def bundle_secret_problem(value: Any, min_length: Any = 16) -> str:
    if not isinstance(value, str) or value == "":
        return "not set"
    if PLACEHOLDER.search(value):
        return "a placeholder from an example"
    if len(value) < int(min_length):
        return f"shorter than {int(min_length)} characters"
    if any(ch.isspace() for ch in value):
        return "contains spaces"
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bundle_secret_problem": bundle_secret_problem}
