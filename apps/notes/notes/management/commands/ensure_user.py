"""``manage.py ensure_user USERNAME``: create or update a user; the password comes from the env."""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

PASSWORD_ENV = "NOTES_BOOTSTRAP_PASSWORD"


class Command(BaseCommand):
    help = f"Create or update a user; the password is read from ${PASSWORD_ENV}, never from arguments."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get(PASSWORD_ENV, "")
        if not password:
            raise CommandError(f"{PASSWORD_ENV} is not set: export the password there, not on the command line")
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        user.set_password(password)
        user.is_active = True
        user.save()
        self.stdout.write(f"{'created' if created else 'updated'} user {user.get_username()}")
