"""Builders for sample files used in tests: real PDFs, DOCX files, ZIPs and realistic prose.

Every ``make_*`` function writes one file into ``directory`` and returns its ``Path``. The files are real
(reportlab PDFs, python-docx documents, zipfile archives), so extraction tests exercise the real parsers.
``extract_checked`` extracts a file and asserts the invariants every ``ExtractedText`` keeps.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Sequence
from pathlib import Path

import docx
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas

from documents.demo_corpus.builders.common import gettysburg_address
from documents.services.extract import ExtractedText, extract
from documents.services.filetypes import check_file

# The Gettysburg Address, Abraham Lincoln, 19 November 1863 (the "Bliss copy"); public domain.
REAL_TEXT = gettysburg_address()

PDF_FONT = "Helvetica"
PDF_FONT_SIZE = 11
PDF_LEADING = 14
PDF_MARGIN = 72

# (title, 1-based page) or (title, 1-based page, level) where level 0 is top level.
OutlineEntry = tuple[str, int] | tuple[str, int, int]


def make_pdf(
    directory: Path,
    pages: list[str],
    name: str = "sample.pdf",
    outline: Sequence[OutlineEntry] | None = None,
) -> Path:
    """Write a text PDF with one page per item of ``pages``.

    In a page's text, a blank line ("\\n\\n") starts a new paragraph (drawn after an empty line), a single
    "\\n" forces a line break, and long lines are wrapped to the page width. ``outline`` adds bookmarks
    pointing at 1-based pages; an optional third element is the nesting level (0 = top, each entry at most
    one level deeper than the previous). Raises ValueError if a page's text does not fit on one page.
    """
    path = directory / name
    pdf = canvas.Canvas(str(path), pagesize=LETTER)
    _draw_pages(pdf, pages)
    for entry in outline or []:
        title, page = entry[0], entry[1]
        level = entry[2] if len(entry) == 3 else 0
        if not 1 <= page <= len(pages):
            raise ValueError(f"outline entry {title!r} points at page {page} of {len(pages)}")
        pdf.addOutlineEntry(title, f"page-{page}", level=level)
    pdf.save()
    return path


def _draw_pages(pdf: canvas.Canvas, pages: list[str]) -> None:
    width, height = LETTER
    text_width = width - 2 * PDF_MARGIN
    for number, page_text in enumerate(pages, start=1):
        pdf.bookmarkPage(f"page-{number}")
        pdf.setFont(PDF_FONT, PDF_FONT_SIZE)
        y = height - PDF_MARGIN
        for index, paragraph in enumerate(page_text.split("\n\n")):
            if index:
                y -= PDF_LEADING  # the empty line between paragraphs
            for forced_line in paragraph.split("\n"):
                for line in simpleSplit(forced_line, PDF_FONT, PDF_FONT_SIZE, text_width) or [""]:
                    if y < PDF_MARGIN:
                        raise ValueError(f"the text of page {number} does not fit on one page")
                    pdf.drawString(PDF_MARGIN, y, line)
                    y -= PDF_LEADING
        pdf.showPage()


def make_encrypted_pdf(directory: Path, name: str = "locked.pdf") -> Path:
    """Write a PDF that needs the user password "secret" to open (RC4 encryption by reportlab)."""
    path = directory / name
    encryption = StandardEncryption("secret", ownerPassword="owner-secret")
    pdf = canvas.Canvas(str(path), pagesize=LETTER, encrypt=encryption)
    _draw_pages(pdf, ["This text is locked behind a password."])
    pdf.save()
    return path


def make_scanned_pdf(directory: Path, name: str = "scan.pdf") -> Path:
    """Write a two-page PDF with only drawings (grey bars where text lines would be), no text objects."""
    path = directory / name
    pdf = canvas.Canvas(str(path), pagesize=LETTER)
    width, height = LETTER
    for _page in range(2):
        pdf.setFillGray(0.97)
        pdf.rect(20, 20, width - 40, height - 40, fill=1, stroke=0)
        pdf.setFillGray(0.3)
        y = height - PDF_MARGIN
        for line in range(30):
            pdf.rect(PDF_MARGIN, y, (width - 2 * PDF_MARGIN) * (0.6 if line % 7 == 6 else 1.0), 7, fill=1, stroke=0)
            y -= PDF_LEADING
        pdf.circle(width / 2, 90, 30, fill=0, stroke=1)
        pdf.showPage()
    pdf.save()
    return path


def make_corrupt_pdf(directory: Path, name: str = "corrupt.pdf") -> Path:
    """Write a file that starts like a PDF but is garbage after the header."""
    path = directory / name
    path.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\nthis is not a PDF body\n")
    return path


def make_docx(directory: Path, blocks: list[tuple[str, str]], name: str = "sample.docx", title: str = "") -> Path:
    """Write a DOCX built from ``(style, text)`` blocks, in order, with ``title`` as its core-properties title.

    ``style`` is "Title", "Heading 1".."Heading 9", "Normal" (or any paragraph style of python-docx's default
    template), or "table": then ``text`` holds rows separated by "\\n" and cells separated by "|"
    (e.g. "Name|Role\\nAda|Engineer").
    """
    path = directory / name
    document = docx.Document()
    document.core_properties.title = title
    for style, text in blocks:
        if style == "table":
            rows = [row.split("|") for row in text.split("\n")]
            table = document.add_table(rows=len(rows), cols=max(len(row) for row in rows))
            for row_cells, row in zip(table.rows, rows, strict=True):
                for cell, value in zip(row_cells.cells, row, strict=False):
                    cell.text = value
        elif style == "Title":
            document.add_heading(text, level=0)
        elif style.startswith("Heading "):
            document.add_heading(text, level=int(style.removeprefix("Heading ")))
        else:
            document.add_paragraph(text, style=style)
    document.save(str(path))
    return path


_MINIMAL_DOCUMENT_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p></w:body></w:document>"
)


def make_zip_bomb(directory: Path, name: str = "bomb.docx", megabytes: int = 300) -> Path:
    """Write a ZIP with word/document.xml plus a member of ``megabytes`` MB of zeros (about 1.4 MB on disk).

    The big member is written in 1 MB chunks through ``ZipFile.open(..., "w")``, so memory stays small.
    """
    path = directory / name
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("word/document.xml", _MINIMAL_DOCUMENT_XML)
        with archive.open("word/media/zeros.bin", "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(chunk)
    return path


def make_zip(directory: Path, name: str = "archive.zip", members: dict[str, bytes] | None = None) -> Path:
    """Write a plain ZIP archive (by default one text file and no word/document.xml)."""
    path = directory / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member_name, data in (members or {"notes.txt": REAL_TEXT.encode()}).items():
            archive.writestr(member_name, data)
    return path


def write(directory: Path, name: str, data: bytes | str) -> Path:
    path = directory / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def extract_checked(path: Path, kind: str) -> ExtractedText:
    """``check_file`` then ``extract``, asserting the offset and paragraph invariants on the result."""
    check_file(path, kind)
    result = extract(path, kind)
    assert result.kind == kind
    assert_well_formed(result)
    return result


def assert_well_formed(result: ExtractedText) -> None:
    text = result.text
    # Paragraphs are separated by exactly one blank line and never contain one.
    for paragraph in text.split("\n\n"):
        assert paragraph, "empty paragraph (three or more newlines in a row)"
        assert paragraph == paragraph.strip()
        assert "\n\n" not in paragraph
        assert all(line == line.strip() and "  " not in line and "\t" not in line for line in paragraph.split("\n"))
    starts = [section.char_start for section in result.sections]
    assert starts == sorted(set(starts))
    assert all(0 <= start <= len(text) for start in starts)
    if result.kind not in ("pdf", "image"):
        # Non-PDF sections start at a paragraph (a heading, or a slide's first paragraph).
        assert all(start == 0 or text[start - 2 : start] == "\n\n" for start in starts)
    if result.kind not in ("pdf", "image", "pptx", "odp"):
        assert result.pages == []
        return
    assert [page.number for page in result.pages] == list(range(1, len(result.pages) + 1))
    assert result.pages[0].char_start == 0
    assert result.pages[-1].char_end == len(text)
    for page in result.pages:
        assert page.char_start <= page.char_end
    for previous, page in itertools.pairwise(result.pages):
        assert text[previous.char_end : page.char_start] in ("", "\n\n")


def heading_at(result: ExtractedText, needle: str) -> tuple[str, ...]:
    """The heading path that applies where ``needle`` first occurs in the text."""
    position = result.text.index(needle)
    path: tuple[str, ...] = ()
    for section in result.sections:
        if section.char_start <= position:
            path = section.heading_path
    return path
