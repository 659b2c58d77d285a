"""``manage.py restore DIR``: verify a backup's checksums, then restore its database and media files
(config/backup.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `backup` into the configured database and MEDIA_ROOT (both must be empty "
        "unless --force). The checksums are verified first; a damaged backup is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument(
            "--force", action="store_true", help="replace a non-empty database and MEDIA_ROOT (drops their contents)"
        )

    def handle(self, *args: Any, directory: Path, force: bool, **options: Any) -> None:
        try:
            backup_restore(directory=directory, force=force, progress=self.stdout.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
