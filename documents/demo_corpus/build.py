"""Regenerate the demo corpus in ``files/`` from the plain-text sources in ``sources/``.

Run from the project root::

    .venv/bin/python documents/demo_corpus/build.py

The generated files are committed, so users never need to run this; it exists so the
demo documents can be rebuilt (and reviewed) from readable sources. The output is
deterministic: the PDF is written with ReportLab's ``invariant`` mode, and the DOCX
has fixed core properties and fixed ZIP entry timestamps, so an unchanged source
produces byte-identical files.

Formats, and what each one exercises in an extractor:

* ``us-constitution.pdf``  multi-page text PDF with headings, a running footer and
  an outline (bookmarks) per Article and Section.
* ``bill-of-rights.docx``  Title / Heading 1 / Normal paragraphs plus a table.
* ``declaration-of-independence.html``  the text inside ``<main><article>``,
  surrounded by navigation, banner, sidebar, footer and cookie boilerplate.
* ``gettysburg-address.md``  Markdown headings.
* ``second-inaugural-address.txt``  plain text.
* ``constitutional-amendments.csv``  a small table.

The code for each format family lives in the ``builders/`` package next to this script.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script (``python documents/demo_corpus/build.py``), so this directory is
# ``sys.path[0]`` and the sibling ``builders`` package imports as a top-level package.
from builders.common import FILES, read_amendments
from builders.pdf import build_constitution_pdf
from builders.text import (
    build_amendments_csv,
    build_declaration_html,
    build_gettysburg_md,
    build_second_inaugural_txt,
)
from builders.word import build_bill_of_rights_docx

HERE = Path(__file__).resolve().parent


def main() -> int:
    """Rebuild every file in ``files/`` and print a one-line report for each."""
    FILES.mkdir(parents=True, exist_ok=True)
    amendments = read_amendments()

    def report(path: Path, note: str = "") -> None:
        rel = path.relative_to(HERE.parent.parent) if path.is_relative_to(HERE.parent.parent) else path
        suffix = f"  ({note})" if note else ""
        print(f"wrote {rel}  {path.stat().st_size:,} bytes{suffix}")

    pdf = FILES / "us-constitution.pdf"
    pages = build_constitution_pdf(pdf)
    report(pdf, f"{pages} pages")

    docx_path = FILES / "bill-of-rights.docx"
    headings = build_bill_of_rights_docx(docx_path, amendments)
    report(docx_path, f"{headings} Heading 1 paragraphs + table")

    html_path = FILES / "declaration-of-independence.html"
    build_declaration_html(html_path)
    report(html_path)

    md = FILES / "gettysburg-address.md"
    build_gettysburg_md(md)
    report(md)

    txt = FILES / "second-inaugural-address.txt"
    build_second_inaugural_txt(txt)
    report(txt)

    csv_path = FILES / "constitutional-amendments.csv"
    build_amendments_csv(csv_path)
    report(csv_path, f"{len(amendments)} rows")

    total = sum(p.stat().st_size for p in FILES.iterdir() if p.is_file())
    print(f"total {total:,} bytes in {FILES.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
