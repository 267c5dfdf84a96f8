"""Operator commands that are not Django management commands: python -m notes.cli ...

Usage:
  notes.cli stats [--json]
  notes.cli (-h | --help)

Options:
  --json     One JSON object instead of "name: count" lines.
  -h --help  Show this text.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from docopt import docopt


def stats() -> dict[str, int]:
    from django.contrib.auth import get_user_model

    from notes.models import Note

    notes = Note.objects.all()
    return {
        "users": get_user_model().objects.count(),
        "notes": notes.count(),
        "processed": notes.filter(processed_at__isnull=False).count(),
        "pending": notes.filter(processed_at__isnull=True).count(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = docopt(__doc__, argv=list(sys.argv[1:] if argv is None else argv))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notes.settings")
    import django

    django.setup()
    counts = stats()
    if args["--json"]:
        print(json.dumps(counts, sort_keys=True))
    else:
        print("\n".join(f"{name}: {value}" for name, value in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
