"""A hostile-text corpus: files built to make parsers slow (long lines, pathological headings, deep nesting,
huge tables, binary junk) in every supported format (the ZIP-based ones in ``documents.hostile_office``), and
the one function that runs a file through the real upload checks, extraction and chunking (``hostile_process``).

Used by ``documents/tests/test_hostile.py`` (small sizes, in ``make test``) and ``manage.py bench_hostile``
(large sizes, timings per MB). Files are generated, never committed; generation is deterministic.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docx
from reportlab.lib.pagesizes import LETTER
from reportlab.pdfgen import canvas

from documents.hostile_office import OFFICE_BUILDERS
from documents.services.extract_errors import ExtractionError

Builder = Callable[[Path, int], Path]


@dataclass(frozen=True)
class HostileResult:
    """What happened to one file: ``outcome`` "ok" (``chunks`` chunks) or "failed" (``reason``: the
    message the uploader would read); ``seconds`` wall time of checks + extraction + chunking."""

    name: str
    size: int  # bytes on disk
    text_chars: int  # characters extracted (0 when it failed)
    outcome: str
    reason: str
    chunks: int
    seconds: float  # all of it
    extract_seconds: float  # upload checks and extraction only
    longest_heading: int  # characters, over every section's and chunk's heading path
    deepest_path: int  # headings


def distinct_words(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct pronounceable words (so every one is its own lexeme in a ``tsvector``)."""
    rnd = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "ze", "pi", "shu", "gra", "del", "mon", "tir"]
    return [
        "".join(rnd.choice(syllables) for _ in range(3)) + "".join(chr(97 + int(d)) for d in str(i))
        for i in range(count)
    ]


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _repeat(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


def long_atx_heading(directory: Path, size: int) -> Path:
    """Issue 13's line: "# a", then spaces, then "b" (the old heading regex backtracked on it for minutes)."""
    return _text(directory / "long-atx.md", "# a" + " " * size + "b\n\nAfter the line.\n")


def atx_headings(directory: Path, size: int) -> Path:
    """Many pathological headings: long, too many "#", long closing runs, spaces between closing runs."""
    unit = "\n".join(
        [
            "# " + "x" * 3000 + " " + "#" * 3000,
            "#" * 7000 + " not a heading",
            "###### " + "# " * 1500,
            "## title" + " " * 2000 + "#" * 500 + " " * 2000 + "x",
            "# " + " ".join(distinct_words(600)),
            "",
            "Some body text under the headings.",
            "",
        ]
    )
    return _text(directory / "headings.md", _repeat(unit + "\n", size))


def long_heading(directory: Path, size: int) -> Path:
    """One heading holding thousands of distinct words (index amplification), then prose."""
    words = distinct_words(max(100, size // 40))
    heading = "# " + " ".join(words[: len(words) // 2])
    body = "\n\n".join(" ".join(words[i : i + 40]) + "." for i in range(len(words) // 2, len(words), 40))
    return _text(directory / "long-heading.md", heading + "\n\n" + body + "\n")


def setext_and_fences(directory: Path, size: int) -> Path:
    """Huge setext underlines, unclosed and never-closing code fences, tilde runs."""
    unit = "text\n" + "=" * 5000 + "\n\nmore\n" + "-" * 5000 + "x\n\n" + "~" * 4000 + "\ncode\n" + "`" * 3 + "\n"
    return _text(directory / "setext-fences.md", _repeat(unit, size) + "```\nnever closed\n")


def deep_markdown(directory: Path, size: int) -> Path:
    """Quotes and lists nested thousands of levels deep."""
    quotes = "\n".join("> " * depth + "quoted" for depth in range(0, 3000, 7))
    lists = "\n".join("  " * depth + "- item" for depth in range(0, 3000, 7))
    return _text(directory / "deep.md", _repeat(quotes + "\n\n" + lists + "\n\n", size)[: max(size, 10_000)])


def markdown_table(directory: Path, size: int) -> Path:
    """A Markdown table with thousands of columns, table rules and bold markers that never close."""
    columns = 2000
    header = "| " + " | ".join(f"c{i}" for i in range(columns)) + " |"
    rule = "|" + "|".join(":---:" for _ in range(columns)) + "|"
    row = "| " + " | ".join("**v" for _ in range(columns)) + " |"
    body = "\n".join([header, rule, *[row] * max(1, size // len(row))])
    return _text(directory / "table.md", body + "\n\n" + "**a " * 5000 + "\n")


def long_line_text(directory: Path, size: int) -> Path:
    """One line of words, no newline at all."""
    return _text(directory / "long-line.txt", " ".join(_repeat("lorem ipsum dolor sit amet ", size).split()))


def no_spaces_text(directory: Path, size: int) -> Path:
    """One word as long as the file (tokenizers and sentence splitters see no boundary)."""
    return _text(directory / "one-word.txt", "a" * size)


def text_sniffed_as_markdown(directory: Path, size: int) -> Path:
    """A .txt that sniffs as Markdown (an ATX heading in its head) with the hostile heading line after it."""
    return _text(directory / "notes.txt", "# Notes\n\n" + "# a" + " " * size + "b\n")


def csv_sniff_bomb(directory: Path, size: int) -> Path:
    """Comma-quote runs: ``csv.Sniffer``'s quote regex is quadratic on them."""
    return _text(directory / "sniff.csv", _repeat(',"a', size) + "\n")


def csv_wide(directory: Path, size: int) -> Path:
    """Thousands of columns per row."""
    columns = 5000
    header = ",".join(f"col{i}" for i in range(columns))
    row = ",".join(str(i % 97) for i in range(columns))
    return _text(directory / "wide.csv", header + "\n" + _repeat(row + "\n", size))


def csv_rows(directory: Path, size: int) -> Path:
    """Very many short rows."""
    return _text(directory / "rows.csv", "name,value\n" + _repeat("a,1\n", size))


def csv_long_field(directory: Path, size: int) -> Path:
    """A quoted field longer than the csv module's field limit (131,072 characters)."""
    return _text(directory / "long-field.csv", 'name,value\nx,"' + "y" * max(size, 140_000) + '"\n')


def html_deep(directory: Path, size: int) -> Path:
    """Elements nested tens of thousands deep (parsers and recursive tree walks)."""
    depth = max(100, size // 12)
    return _text(directory / "deep.html", "<html><body>" + "<div>" * depth + "<p>deep</p>" + "</div>" * depth)


def html_deep_wide(directory: Path, size: int) -> Path:
    """Paragraphs by the hundred thousand inside 250 nested elements (a per-element ancestor walk is slow)."""
    return _text(directory / "deep-wide.html", "<html><body>" + "<div>" * 250 + _repeat("<p>x y</p>", size))


def html_unclosed(directory: Path, size: int) -> Path:
    """Inline elements opened and never closed, with text between them."""
    return _text(directory / "unclosed.html", "<html><body><p>" + _repeat("<b><i>word ", size))


def html_table(directory: Path, size: int) -> Path:
    """A huge table; cells full of Markdown-looking rules and bold markers (they reach the Markdown tidy-up)."""
    row = "<tr>" + "<td>**x</td><td>|---|</td>" * 200 + "</tr>"
    body = "<p>" + "**a " * 2000 + "</p><p>" + "--- | " * 2000 + "</p>"
    return _text(directory / "table.html", "<html><body>" + body + "<table>" + _repeat(row, size) + "</table>")


def html_long_line(directory: Path, size: int) -> Path:
    """One paragraph as long as the file, starting with heading and rule markers."""
    return _text(directory / "long-line.html", "<html><body><p># a" + " x" * (size // 2) + "</p></body></html>")


def binary_junk(directory: Path, size: int) -> Path:
    """Random bytes with a text extension."""
    path = directory / "junk.txt"
    path.write_bytes(random.Random(1).randbytes(size))
    return path


def high_bytes_junk(directory: Path, size: int) -> Path:
    """Random bytes above 0x7f only (no controls: it passes for text and goes through charset detection)."""
    path = directory / "junk.md"
    rnd = random.Random(2)
    path.write_bytes(bytes(rnd.randrange(0x80, 0x100) for _ in range(size)))
    return path


def pdf_hostile(directory: Path, size: int) -> Path:
    """Pages of text lines far wider than the page, and an outline of many deep bookmarks with long titles."""
    path = directory / "hostile.pdf"
    pdf = canvas.Canvas(str(path), pagesize=LETTER)
    words = distinct_words(3000, seed=3)
    pages = max(1, size // 20_000)
    for number in range(pages):
        pdf.bookmarkPage(f"p{number}")
        for line in range(40):
            pdf.drawString(36, 740 - 18 * line, " ".join(words[(number + line) % 2000 :][:60]) + ".")
        pdf.showPage()
    for index in range(min(2000, pages * 20)):
        title = " ".join(words[index % 2500 :][:300])
        pdf.addOutlineEntry(title, f"p{index % pages}", level=min(index % 40, 20))
    pdf.save()
    return path


def docx_hostile(directory: Path, size: int) -> Path:
    """Very long and very deep headings, long paragraphs and a wide table."""
    document = docx.Document()
    words = distinct_words(2000, seed=4)
    for index in range(max(1, size // 40_000)):
        document.add_heading(" ".join(words), level=1 + index % 9)
        document.add_paragraph(" ".join(words) * 2)
    table = document.add_table(rows=3, cols=60)
    for row in table.rows:
        for cell in row.cells:
            cell.text = "**cell"
    path = directory / "hostile.docx"
    document.save(str(path))
    return path


def blank_png(path: Path, side: int) -> Path:
    """A valid PNG of ``side`` x ``side`` white pixels (1 bit each), compressed row by row: 30,000 pixels square
    (900 megapixels, 112 MB of pixel data) takes ~110 KB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row, compressor = b"\x00" + b"\xff" * ((side + 7) // 8), zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


def image_huge(directory: Path, size: int) -> Path:
    """An image 30,000 pixels square (a decompression bomb for OCR): refused from its header."""
    return blank_png(directory / "huge.png", 30_000)


def _eml_head(subject: str) -> str:
    return (
        f"From: a@example.com\nTo: b@example.com\nSubject: {subject}\nMessage-ID: <1@example.com>\nMIME-Version: 1.0\n"
    )


def eml_deep(directory: Path, size: int) -> Path:
    """A message nesting multiparts as deep as its size allows (the parser's time grows with lines x depth)."""
    unit = 'Content-Type: multipart/mixed; boundary="b{0}"\n\n--b{0}\n'
    depth = max(60, size // 50)
    nested = "".join(unit.format(i) for i in range(depth))
    return _text(directory / "deep.eml", _eml_head("Deep") + nested + "Content-Type: text/plain\n\nthe body\n")


def eml_headers_and_parts(directory: Path, size: int) -> Path:
    """A folded subject thousands of lines long, a huge address list, and many tiny attachments (1,500 at most:
    fewer than ``EML_MAX_PARTS``, so it is read)."""
    words = distinct_words(200, seed=5)
    subject = "\n ".join(" ".join(words[i % 150 :][:20]) for i in range(max(1, size // 400)))
    to = ", ".join(f"user{i}@example.com" for i in range(max(1, size // 100)))
    parts = "".join(
        f'--sep\nContent-Type: text/plain\nContent-Disposition: attachment; filename="p{i}.txt"\n\nx{i}\n'
        for i in range(min(1500, max(1, size // 200)))  # under EML_MAX_PARTS: read
    )
    text = (
        f"From: a@example.com\nTo: {to}\nSubject: {subject}\nMessage-ID: <2@example.com>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="sep"\n\n--sep\nContent-Type: text/plain\n\nthe body\n'
        f"{parts}--sep--\n"
    )
    return _text(directory / "parts.eml", text)


BUILDERS: tuple[Builder, ...] = (
    long_atx_heading,
    atx_headings,
    long_heading,
    setext_and_fences,
    deep_markdown,
    markdown_table,
    long_line_text,
    no_spaces_text,
    text_sniffed_as_markdown,
    csv_sniff_bomb,
    csv_wide,
    csv_rows,
    csv_long_field,
    html_deep,
    html_deep_wide,
    html_unclosed,
    html_table,
    html_long_line,
    binary_junk,
    high_bytes_junk,
    pdf_hostile,
    docx_hostile,
    image_huge,
    eml_deep,
    eml_headers_and_parts,
    *OFFICE_BUILDERS,
)


def hostile_corpus(directory: Path, *, size: int) -> list[Path]:
    """Write every file of the corpus into ``directory``, each about ``size`` bytes (PDF and DOCX: their text
    scales with ``size``; a few files have a fixed minimum); returns their paths in ``BUILDERS`` order."""
    return [build(directory, size) for build in BUILDERS]


def hostile_process(path: Path) -> HostileResult:
    """Run one file through what an upload and its ingestion do before embedding: ``sniff_file`` and
    ``check_file``, ``extract``, ``chunk_document`` and the document caps.

    A domain failure (``ExtractionError`` at upload or extraction, ``IngestionFailed`` from the caps) is an
    outcome "failed" with its message; any other exception propagates (that would be a bug).
    """
    from documents.services.chunk import chunk_document
    from documents.services.extract import extract
    from documents.services.filetypes import check_file, sniff_file

    start = time.perf_counter()
    extracted_at, outcome, reason = None, "ok", ""
    paths: list[tuple[str, ...]] = []
    chunks = text_chars = 0
    try:
        kind = sniff_file(path, path.name)
        check_file(path, kind)
        extracted = extract(path, kind)
        extracted_at, text_chars = time.perf_counter(), len(extracted.text)
        drafts = chunk_document(extracted, title=path.stem)
        chunks = len(drafts)
        paths = [section.heading_path for section in extracted.sections] + [draft.heading_path for draft in drafts]
    except ExtractionError as exc:
        outcome, reason = "failed", exc.message
    end = time.perf_counter()
    return HostileResult(
        name=path.name,
        size=path.stat().st_size,
        text_chars=text_chars,
        outcome=outcome,
        reason=reason,
        chunks=chunks,
        seconds=end - start,
        extract_seconds=(extracted_at or end) - start,
        longest_heading=max((len(heading) for trail in paths for heading in trail), default=0),
        deepest_path=max(map(len, paths), default=0),
    )
