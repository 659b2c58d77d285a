"""Shared paths, constants and source-reading helpers for the demo corpus builders."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent
SOURCES = CORPUS_DIR / "sources"
FILES = CORPUS_DIR / "files"

# A fixed timestamp for every piece of metadata that would otherwise record "now".
FIXED_DATETIME = dt.datetime(2024, 1, 1, 0, 0, 0)
FIXED_ZIP_TIME = (2024, 1, 1, 0, 0, 0)

ARTICLE_RE = re.compile(r"^Article [IVX]+$")
SECTION_RE = re.compile(r"^Section \d+$")
AMENDMENT_RE = re.compile(r"^Amendment [IVX]+$")


def read_source(name: str) -> str:
    """Return the text of ``sources/<name>``."""
    return (SOURCES / name).read_text(encoding="utf-8")


def blocks(text: str) -> list[str]:
    """Split a source into blank-line separated blocks, each stripped."""
    return [b.strip() for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]


def gettysburg_address() -> str:
    """The Gettysburg Address (Abraham Lincoln, 19 November 1863, the "Bliss copy"; public domain): its
    three paragraphs separated by blank lines, without the signature. Realistic prose for benchmarks and
    tests."""
    return "\n\n".join(blocks(read_source("gettysburg.txt"))[:3])


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 with ``\\n`` line endings."""
    path.write_text(text, encoding="utf-8", newline="\n")


def read_amendments() -> list[dict[str, str]]:
    """Read ``sources/amendments_table.csv``, checking it has all 27 amendments."""
    with (SOURCES / "amendments_table.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if len(rows) != 27:
        raise SystemExit(f"amendments_table.csv: expected 27 rows, found {len(rows)}")
    return rows
