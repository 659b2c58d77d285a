"""Create (or reset) the demo account that ``make run`` prints, with a verified email address."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.services.users import demo_account_ensure


class Command(BaseCommand):
    help = "Create the demo account (email verified) and print its credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@groundwork.local")
        parser.add_argument("--password", default="groundwork-demo")

    def handle(self, *args: Any, email: str, password: str, **options: Any) -> None:
        user = demo_account_ensure(email=email, password=password)
        self.stdout.write(
            self.style.SUCCESS(f"Demo account: {user.email} / password: {password}  (personal workspace ready)")
        )
