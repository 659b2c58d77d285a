"""``manage.py embedding_artifacts``: make the embedding variants' files now rather than on first use.

    python manage.py embedding_artifacts                  # the configured variant's (EMBEDDING_VARIANT)
    python manage.py embedding_artifacts --all            # every variant's

The container image runs it at build time and ``make run`` before it starts the processes, so no web or worker
process makes them at its first search (making them loads torch: that process would keep ~300 MB more). Made
from the installed model, offline, in ``EMBEDDING_ARTIFACTS_DIR`` (``documents.embedding_variants``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from documents.embedding_variants import VARIANTS, artifact_path, configured_variant, ensure_artifact


class Command(BaseCommand):
    help = "Make the embedding variants' files (ONNX, int8, static) from the installed model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="every variant's, not only the configured one's")

    def handle(self, *args: Any, **opts: Any) -> None:
        names = list(VARIANTS) if opts["all"] else [configured_variant()]
        for name in names:
            if VARIANTS[name].runtime == "torch":
                self.stdout.write(f"{name}: needs no file")
                continue
            ensure_artifact(name)
            self.stdout.write(f"{name}: {artifact_path(name)}")
