"""Benchmark the hostile-text corpus (``documents.hostile``) at large sizes.

    python manage.py bench_hostile                  # every file at 1 MB and 5 MB
    python manage.py bench_hostile --sizes 0.5,2,10

Each file goes through the upload checks, extraction and chunking, in this process (no database, no
worker, no embedding). Prints per file its size and extracted text, outcome, seconds of checks + extraction
and of the whole (with chunking, which runs the model's tokenizer), both per MB (of the file or of its text,
whichever is larger: a DOCX is compressed), and the worst case of each.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from documents.embeddings import get_tokenizer
from documents.hostile import BUILDERS, HostileResult, hostile_process


class Command(BaseCommand):
    help = "Time checks, extraction and chunking on hostile files (long lines, deep nesting, huge tables, junk)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sizes", default="1,5", help="comma-separated file sizes in MB (default 1,5)")

    def handle(self, *args: object, **options: object) -> None:
        try:
            sizes = [int(float(size) * 1_000_000) for size in str(options["sizes"]).split(",")]
        except ValueError as exc:
            raise CommandError(f"--sizes: {exc}") from exc
        get_tokenizer()  # loaded once, outside the timings
        results: list[HostileResult] = []
        total = len(sizes) * len(BUILDERS)
        self.stdout.write(
            f"{'file':<18} {'MB':>7} {'text MB':>7} {'outcome':<8} {'extract s':>9} {'s/MB':>6}"
            f" {'total s':>8} {'s/MB':>6} chunks"
        )
        with tempfile.TemporaryDirectory(prefix="bench-hostile-") as directory:
            for size in sizes:
                for build in BUILDERS:
                    sys.stderr.write(f"\r[{len(results) + 1}/{total}] {build.__name__} at {size / 1e6:g} MB ...   ")
                    sys.stderr.flush()
                    path = build(Path(directory), size)
                    result = hostile_process(path)
                    path.unlink()
                    results.append(result)
                    sys.stderr.write("\r\033[K")  # clear the progress line
                    self.stdout.write(_row(result))
        worst_extract = max(results, key=lambda r: r.extract_seconds / _mb(r))
        worst_total = max(results, key=lambda r: r.seconds / _mb(r))
        self.stdout.write(
            f"worst extraction: {worst_extract.name} {worst_extract.extract_seconds / _mb(worst_extract):.2f} s/MB"
            f" ({worst_extract.extract_seconds:.2f} s for {_mb(worst_extract):.2f} MB); worst with chunking:"
            f" {worst_total.name} {worst_total.seconds / _mb(worst_total):.2f} s/MB"
            f" ({worst_total.seconds:.2f} s for {_mb(worst_total):.2f} MB)"
        )


def _mb(result: HostileResult) -> float:
    return max(result.size, result.text_chars, 1) / 1_000_000


def _row(r: HostileResult) -> str:
    reason = f"  {r.reason[:60]}" if r.reason else ""
    return (
        f"{r.name:<18} {r.size / 1e6:>7.2f} {r.text_chars / 1e6:>7.2f} {r.outcome:<8}"
        f" {r.extract_seconds:>9.2f} {r.extract_seconds / _mb(r):>6.2f}"
        f" {r.seconds:>8.2f} {r.seconds / _mb(r):>6.2f} {r.chunks:>6}{reason}"
    )
