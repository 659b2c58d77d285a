"""Text extraction in the worker: the whole text of a file with exact character offsets of its PDF pages or
slides and heading sections (``extract``). What a file is and the upload checks are in ``filetypes``, decoding in
``decode``, the per-format readers in ``formats`` (the ZIP-based kinds through ``extract_containers``), pages read
by OCR in ``extract_ocr``, the errors in ``extract_errors``.
"""

from __future__ import annotations

import csv
import itertools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import pypdfium2
from django.conf import settings

from config.text import clip_words
from documents.services.containers import ZIP_KINDS
from documents.services.decode import read_text
from documents.services.extract_containers import add_table_rows, extract_container
from documents.services.extract_errors import (
    CorruptFile,
    DocumentTooLarge,
    EmptyFile,
    ExtractionTimeout,
    NoExtractableText,
)
from documents.services.extract_ocr import (
    OcrReader,
    OcrReport,
    Progress,
    image_page,
    image_page_count,
    no_pdf_text,
    pdf_ocr,
)
from documents.services.filetypes import KINDS, open_image, open_pdf
from documents.services.formats import Block
from documents.services.formats.csv import csv_paragraphs
from documents.services.formats.eml import eml_read
from documents.services.formats.html import html_blocks, html_title
from documents.services.formats.markdown import markdown_blocks, markdown_title
from documents.services.formats.pdf import pdf_page_paragraphs
from documents.services.ocr import ocr_status

MIN_PDF_CHARS = 20  # fewer non-space characters than this in a whole PDF (after OCR): it has no text
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # dropped from extracted text


@dataclass(frozen=True)
class PageSpan:
    """A PDF page's, an image page's or a slide's text: ``ExtractedText.text[char_start:char_end]`` (1-based
    ``number``)."""

    number: int
    char_start: int
    char_end: int  # exclusive


@dataclass(frozen=True)
class Section:
    """From ``char_start`` on (until the next Section) this heading path applies; () before the first one."""

    char_start: int
    heading_path: tuple[str, ...]


@dataclass(frozen=True)
class ExtractedText:
    """The whole text of a document: paragraphs separated by exactly one blank line ("\\n\\n"), never
    containing one. ``pages``: one span per PDF page, image page or slide (PPTX, ODP), in order, non-overlapping,
    only "\\n\\n" between them ([] for other kinds). ``sections``: sorted by ``char_start``, distinct offsets; may be
    empty.
    ``title``: the document's own title from its metadata (PDF Title, core properties, HTML ``<title>``, ...),
    "" when it has none. ``ocr``: what OCR read (images; PDF pages without a usable text layer), else None."""

    kind: str
    text: str
    pages: list[PageSpan]
    sections: list[Section]
    title: str = ""
    ocr: OcrReport | None = None

    @property
    def read_by_ocr(self) -> bool:
        """Whether OCR read any page of it (seconds a page: the scheduling keeps such a document's worker)."""
        return self.ocr is not None and bool(self.ocr.pages)


_SPACES = re.compile(r"[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")


def _paragraphs(text: str) -> list[str]:
    """Normalised paragraphs: control characters dropped, space runs collapsed, lines stripped, split on
    blank lines (so none contains "\\n\\n")."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n")).translate({0x0B: "\n", 0x0C: "\n", 0x0D: "\n"})
    paragraphs, lines = [], []
    for line in text.split("\n"):
        if line := _SPACES.sub(" ", line).strip():
            lines.append(line)
        elif lines:
            paragraphs.append("\n".join(lines))
            lines = []
    if lines:
        paragraphs.append("\n".join(lines))
    return paragraphs


def clip_heading(text: str) -> str:
    """A heading as it goes into heading paths: at most ``settings.DOCUMENT_HEADING_MAX_CHARS`` characters,
    cut at a word boundary when one is in its second half, "…" marking the cut."""
    return clip_words(text, settings.DOCUMENT_HEADING_MAX_CHARS)


def heading_path(stack: list[tuple[int, str]]) -> tuple[str, ...]:
    """The heading path of a stack of (level, heading): at most ``settings.DOCUMENT_HEADING_MAX_DEPTH``
    headings (the outermost ones and the innermost), each clipped by ``clip_heading``."""
    depth = max(settings.DOCUMENT_HEADING_MAX_DEPTH, 1)
    titles = [clip_heading(text) for _, text in (stack if len(stack) <= depth else stack[: depth - 1] + stack[-1:])]
    return tuple(titles)


class _Builder:
    """Accumulates paragraphs into one text, tracking heading paths, sections and page spans.

    Raises ``DocumentTooLarge`` once the text passes ``max_chars`` characters and
    ``ExtractionTimeout`` at the first paragraph or page after ``settings.EXTRACT_MAX_SECONDS`` (a deadline
    checked between blocks: no signal, so it is safe in any worker pool). Each deadline check also calls
    ``tick`` (the ingestion's throttled heartbeat, ``scheduling.Heartbeat``)."""

    def __init__(self, max_chars: int, tick: Callable[[], None] | None = None) -> None:
        self.tick = tick
        self.parts: list[str] = []
        self.length = 0
        self.max_length = max_chars
        self.seconds = settings.EXTRACT_MAX_SECONDS
        self.deadline = time.monotonic() + self.seconds
        self.headings: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.pages: list[PageSpan] = []
        self.title = ""

    def next_start(self) -> int:
        return self.length + (2 if self.parts else 0)

    def add(self, block: Block) -> None:
        if block.level is None:
            self.paragraph(block.text)
            return
        title = " ".join(_CONTROL.sub("", block.text).split())
        if title:
            while self.headings and self.headings[-1][0] >= block.level:
                self.headings.pop()
            self.headings.append((block.level, title))
            self.section(self.next_start(), heading_path(self.headings))
            self.paragraph(title)

    def paragraph(self, text: str) -> None:
        for paragraph in _paragraphs(text):
            if self.parts:
                self.parts.append("\n\n")
                self.length += 2
            self.parts.append(paragraph)
            self.length += len(paragraph)
            if self.length > self.max_length:
                raise self.too_large()
            self.check_deadline()

    def too_large(self) -> DocumentTooLarge:
        return DocumentTooLarge(
            f"This document has more than {self.max_length:,} characters of text; split it into smaller files and"
            " upload those."
        )

    def allow(self, seconds: int) -> None:
        """Move the deadline ``seconds`` later (a document with pages to read by OCR: ``OCR_MAX_SECONDS``)."""
        self.seconds += seconds
        self.deadline += seconds

    def check_deadline(self) -> None:
        if self.tick is not None:
            self.tick()
        if time.monotonic() > self.deadline:
            raise ExtractionTimeout(
                f"Reading this file took longer than {self.seconds:,} seconds; split it into smaller files and"
                " upload those."
            )

    def section(self, start: int, path: tuple[str, ...]) -> None:
        """Add a section (call in char_start order); one at the same offset as the last replaces it."""
        if self.sections and self.sections[-1].char_start == start:
            self.sections[-1] = Section(start, path)
        else:
            self.sections.append(Section(start, path))

    def page(self, number: int, paragraphs: Iterable[str | Block]) -> None:
        self.check_deadline()
        count, start = len(self.parts), self.next_start()
        for paragraph in paragraphs:
            if isinstance(paragraph, str):
                self.paragraph(paragraph)
            else:
                self.add(paragraph)
        self.pages.append(PageSpan(number, start if len(self.parts) > count else self.length, self.length))

    def slide(self, number: int, blocks: list[Block]) -> None:
        """A slide as page ``number``: its heading path is its own title only, () when it has none."""
        self.headings.clear()
        blocks = [block for block in blocks if _CONTROL.sub("", block.text).strip()]
        if blocks and blocks[0].level is None and self.sections and self.sections[-1].heading_path:
            self.section(self.next_start(), ())
        self.page(number, blocks)

    def result(self, kind: str) -> ExtractedText:
        return ExtractedText(
            kind=kind, text="".join(self.parts), pages=self.pages, sections=self.sections, title=self.title
        )


def extract(
    path: Path,
    kind: str,
    *,
    max_chars: int | None = None,
    max_pages: int | None = None,
    progress: Progress | None = None,
    tick: Callable[[], None] | None = None,
) -> ExtractedText:
    """Extract the whole text of the file at ``path`` (kind from ``sniff_kind``); see ``ExtractedText``.

    PDF pages, image pages and slides get ``PageSpan``s; the PDF outline, DOCX/ODT/HTML/Markdown/EPUB headings,
    slide titles and sheet names give sections; CSV and sheet rows become "column: value; ..." paragraphs (ZIP-based
    kinds: ``extract_containers``). A PDF page whose text layer is too thin (``extract_ocr.needs_ocr``) and every
    page (TIFF frame) of an image is read by OCR, keeping its page number, with ``progress(done, total)`` called
    after each such page. Raises ``EmptyFile``, ``EncryptedPdf``, ``CorruptFile``, ``ZipBomb``,
    ``UnsupportedType``, ``ImageTooLarge``, ``NoExtractableText`` (no text, even by OCR, or OCR needed and off
    here: the reason says which), ``DocumentTooLarge`` (over ``max_chars`` characters or ``max_pages`` pages: the
    workspace's limits, by default the settings ``DOCUMENT_MAX_CHARS`` and ``DOCUMENT_MAX_PAGES``),
    ``ExtractionTimeout`` (over ``EXTRACT_MAX_SECONDS``, plus ``OCR_MAX_SECONDS`` with pages to OCR) or
    ``ExtractionError`` (over ``EXTRACT_MAX_CSV_ROWS`` rows or ``EXTRACT_MAX_CELLS`` spreadsheet cells); ValueError
    for unknown kinds. Heading paths are bounded (``heading_path``). ``tick`` is called between paragraphs and
    pages: a sign of life of a long extraction (it must be cheap, or throttle itself).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if path.stat().st_size == 0:
        raise EmptyFile("This file is empty.")
    max_chars = settings.DOCUMENT_MAX_CHARS if max_chars is None else max_chars
    max_pages = settings.DOCUMENT_MAX_PAGES if max_pages is None else max_pages
    if kind == "pdf":
        return _extract_pdf(path, max_chars, max_pages, progress, tick)
    if kind == "image":
        return _extract_image(path, max_chars, max_pages, progress, tick)
    builder = _Builder(max_chars, tick)
    title = ""
    if kind in ZIP_KINDS:
        extract_container(path, kind, builder, max_pages=max_pages)
    elif kind == "csv":
        _extract_csv(read_text(path, kind), builder)
    elif kind == "eml":
        blocks_read, title = eml_read(path.read_bytes())
        for block in blocks_read:
            builder.add(block)
    else:
        text = read_text(path, kind)
        blocks: Iterable[Block] = [Block(text)]
        if kind == "html":
            blocks, title = html_blocks(text), html_title(text)
        elif kind == "markdown":
            blocks, title = markdown_blocks(text), markdown_title(text)
        for block in blocks:
            builder.add(block)
    result = builder.result(kind)
    result = replace(result, title=title or result.title)
    if not result.text.strip():
        raise NoExtractableText("No text could be extracted from this file.")
    return result


def _extract_pdf(
    path: Path, max_chars: int, max_pages: int, progress: Progress | None, tick: Callable[[], None] | None
) -> ExtractedText:
    builder = _Builder(max_chars, tick)
    pdf = open_pdf(path)
    if (pages := len(pdf)) > max_pages:
        pdf.close()
        raise DocumentTooLarge(
            f"This PDF has {pages:,} pages, more than the {max_pages:,} allowed; split it into smaller files and"
            " upload those."
        )
    try:
        texts = _pdf_text_layer(pdf, builder)
        report = pdf_ocr(pdf, texts, builder, progress)
        for number, paragraphs in enumerate(texts, start=1):
            builder.page(number, paragraphs)
        marks = itertools.islice(pdf.get_toc(), settings.EXTRACT_MAX_OUTLINE_ENTRIES)
        toc = [(mark.level, mark.get_title(), dest.get_index()) for mark in marks if (dest := mark.get_dest())]
        title = pdf.get_metadata_dict(skip_empty=True).get("Title", "")
    except pypdfium2.PdfiumError as exc:
        raise CorruptFile("This PDF is damaged, so its text cannot be read.") from exc
    finally:
        pdf.close()
    text = "".join(builder.parts)
    if len("".join(text.split())) < MIN_PDF_CHARS:
        raise NoExtractableText(no_pdf_text(report))
    _add_outline_sections(builder, text, toc)
    return replace(builder.result("pdf"), ocr=report, title=title)


def _pdf_text_layer(pdf: pypdfium2.PdfDocument, builder: _Builder) -> list[list[str]]:
    """Each page's paragraphs from its text layer, under the builder's deadline and character limit."""
    texts, total = [], 0
    for index in range(len(pdf)):
        builder.check_deadline()
        page = pdf[index]
        try:
            textpage = page.get_textpage()
            try:
                texts.append(pdf_page_paragraphs(textpage))
            finally:
                textpage.close()
        finally:
            page.close()
        total += sum(map(len, texts[-1]))
        if total > builder.max_length:
            raise builder.too_large()
    return texts


def _extract_image(
    path: Path, max_chars: int, max_pages: int, progress: Progress | None, tick: Callable[[], None] | None
) -> ExtractedText:
    """Every page of an image (each TIFF frame) read by OCR, one decoded at a time."""
    builder = _Builder(max_chars, tick)
    image = open_image(path)
    try:
        pages = image_page_count(image, max_pages=max_pages)
        status = ocr_status()
        if not status.enabled:
            raise NoExtractableText(f"No text could be extracted: images are read by OCR, and {status.reason}")
        builder.allow(settings.OCR_MAX_SECONDS)
        reader = OcrReader(total=pages, progress=progress, check_deadline=builder.check_deadline)
        for index in range(pages):
            page = image_page(image, index)
            try:
                builder.page(index + 1, reader.read(index + 1, page))
            finally:
                page.close()
    finally:
        image.close()
    report = reader.report()
    if not "".join(builder.parts).strip():
        raise NoExtractableText(f"No text could be read from this image, even by OCR. {report.first_error}".strip())
    return replace(builder.result("image"), ocr=report)


def _add_outline_sections(builder: _Builder, text: str, toc: list[tuple[int, str, int | None]]) -> None:
    """Sections from the PDF outline: each bookmark starts where its title appears on its page (after the
    previous bookmark on that page), else at the page's start. Linear in the outline and the text."""
    found: list[tuple[int, int, tuple[str, ...]]] = []
    stack: list[tuple[int, str]] = []
    floors: dict[int, int] = {}  # page index -> start of its latest bookmark
    for order, (level, raw_title, index) in enumerate(toc):
        title = " ".join(raw_title.split())
        if not title or index is None or not 0 <= index < len(builder.pages):
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        span = builder.pages[index]
        floor = floors.get(index, span.char_start)
        position = text.find(title, floor, span.char_end)
        floors[index] = max(floor, position)
        found.append((position if position >= 0 else floor, order, heading_path(stack)))
    for start, _, path in sorted(found):
        builder.section(start, path)


def _extract_csv(text: str, builder: _Builder) -> None:
    builder.section(0, ())
    try:
        add_table_rows(builder, csv_paragraphs(text), "CSV file")
    except csv.Error as exc:
        raise CorruptFile(f"This CSV file could not be read: {exc}.") from exc
