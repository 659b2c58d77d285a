"""Upload the committed demo corpus (public-domain texts) into a user's personal workspace.

Idempotent: files already there (same SHA-256) are reported and skipped. Ingestion runs in the worker.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import workspace_get_personal
from config.errors import ApplicationError
from documents.demo_corpus.builders.common import FILES
from documents.services.upload import document_upload

CORPUS = FILES  # the committed, generated demo files


class Command(BaseCommand):
    help = "Load the demo corpus into the personal workspace of --email (default: the demo account)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default="demo@groundwork.local")

    def handle(self, *args: Any, email: str, **options: Any) -> None:
        user = get_user_model().objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user {email}; run ensure_demo_account first.")
        workspace = workspace_get_personal(user=user)
        files = sorted(p for p in CORPUS.iterdir() if p.is_file())
        for path in files:
            with path.open("rb") as f:
                try:
                    result = document_upload(
                        workspace=workspace, user=user, file=File(f, name=path.name), filename=path.name
                    )
                except ApplicationError as exc:
                    self.stderr.write(f"{path.name}: {exc.message}")
                    continue
            self.stdout.write(f"{'queued ' if result.created else 'present'}  {path.name}")
        self.stdout.write(self.style.SUCCESS(f"Demo corpus: {len(files)} files in “{workspace.name}”."))
