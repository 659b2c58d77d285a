"""Text extraction: decide a file's kind from its content, check it at upload, extract its text.

``sniff_kind`` and ``check_file`` run at upload time (fast, before anything is stored); ``extract`` runs in
the worker and returns the whole text with exact character offsets of PDF pages and heading sections.
The per-format readers live in ``extract_formats``.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import docx
import lxml.etree
import pypdfium2
import pypdfium2.raw as pdfium_c
from docx.exceptions import PythonDocxError
from docx.opc.exceptions import OpcError

from config.errors import ApplicationError
from documents.services.extract_formats import (
    Block,
    csv_paragraphs,
    describe_binary,
    describe_zip,
    docx_blocks,
    html_blocks,
    looks_delimited,
    looks_western,
    markdown_blocks,
    pdf_page_paragraphs,
)

KINDS = ("pdf", "docx", "html", "markdown", "text", "csv")
TEXT_KINDS = ("html", "markdown", "text", "csv")
SNIFF_BYTES = 64 * 1024  # how much of the head sniff_kind and check_file look at
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a DOCX may expand to at most this much
MAX_ZIP_RATIO = 100  # ... and no member over RATIO_MIN_BYTES may compress better than this
RATIO_MIN_BYTES = 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_CSV_ROWS = 200_000
MIN_PDF_CHARS = 20  # fewer non-space characters than this in a whole PDF: treat it as scanned

SUPPORTED = "Groundwork reads PDF, DOCX, HTML, Markdown, text and CSV."


class ExtractionError(ApplicationError):
    code = "extraction_failed"


class EmptyFile(ExtractionError):
    code = "empty_file"


class UnsupportedType(ExtractionError):
    status_code = 415
    code = "unsupported_type"


class EncryptedPdf(ExtractionError):
    code = "encrypted_pdf"


class CorruptFile(ExtractionError):
    code = "corrupt_file"


class ZipBomb(ExtractionError):
    code = "zip_bomb"


class NoExtractableText(ExtractionError):
    code = "no_text"


@dataclass(frozen=True)
class PageSpan:
    """A PDF page's text: ``ExtractedText.text[char_start:char_end]`` (1-based ``number``)."""

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
    containing one. ``pages``: one span per PDF page, in order, non-overlapping, only "\\n\\n" between
    them ([] for other kinds). ``sections``: sorted by ``char_start``, distinct offsets; may be empty."""

    kind: str
    text: str
    pages: list[PageSpan]
    sections: list[Section]


# --- Sniffing and decoding ------------------------------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY = "This file does not look like a document (it contains binary data). " + SUPPORTED
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # dropped from extracted text
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")  # as _CONTROL, but ESC is common in logs
_LEADING_NOISE = re.compile(r"^(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)+", re.DOTALL)
_HTML_TAG = re.compile(r"<(?:head|body|p|div)[\s>]", re.IGNORECASE)
_ATX_LINE = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.IGNORECASE)


def sniff_kind(head: bytes, filename: str = "") -> str:
    """Decide the kind (one of ``KINDS``) from the first up to 64 KiB of a file; ``filename``'s extension
    only breaks ties between text kinds (.md -> markdown, .csv/.tsv -> csv, .txt -> never csv).

    A ZIP is returned as "docx": ``check_file`` verifies it really is one. Raises ``EmptyFile`` (no bytes
    or only whitespace) and ``UnsupportedType`` (binary content, naming the format when it is known).
    """
    head = head[:SNIFF_BYTES]
    if not head.strip():
        raise EmptyFile("This file is empty.")
    if 0 <= head.find(b"%PDF-") <= 1024:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if what := describe_binary(head):
        raise UnsupportedType(f"This looks like {what}; {SUPPORTED}")
    text = _decode(head, partial=True)
    if not text.strip():
        raise EmptyFile("This file is empty.")
    return _text_kind(text, Path(filename).suffix.lower())


def _text_kind(text: str, extension: str) -> str:
    start = _LEADING_NOISE.sub("", text[:8192]).lower()
    if start.startswith(("<!doctype html", "<html")):
        return "html"
    if start.startswith(("<svg", "<!doctype svg")):
        raise UnsupportedType(f"This looks like an SVG image; {SUPPORTED}")
    if extension in (".md", ".markdown", ".mdown", ".mkd"):
        return "markdown"
    if extension in (".csv", ".tsv", ".tab"):
        return "csv"
    if start.startswith("<") and (extension in (".html", ".htm", ".xhtml") or _HTML_TAG.search(text)):
        return "html"
    if extension not in (".txt", ".text") and looks_delimited(text):
        return "csv"
    return "markdown" if _ATX_LINE.search(text) else "text"


def decode_text(data: bytes) -> str:
    """Decode text in any encoding: a BOM (UTF-8/16/32) wins, then UTF-8, then UTF-16 without BOM, then
    Windows-1252 when that reads like Western text, else charset-normalizer's best guess. Newlines become
    "\\n" and a leading BOM is dropped. Raises ``UnsupportedType`` when the bytes are not text."""
    return _decode(data)


def _decode(data: bytes, *, partial: bool = False) -> str:
    """``decode_text``; with ``partial`` the data is a file's head and may end inside a character."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None) or _utf16_by_nuls(data)
    try:
        text = codecs.getincrementaldecoder(encoding or "utf-8")().decode(data, final=not partial)
    except UnicodeDecodeError:
        if encoding:
            raise UnsupportedType(_BINARY) from None
        text = _decode_legacy(data)
    sample = text[:100_000]
    if "\x00" in sample or len(_BINARY_CONTROL.findall(sample)) > len(sample) / 100:
        raise UnsupportedType(_BINARY)
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _utf16_by_nuls(data: bytes) -> str | None:
    """UTF-16 without BOM shows as NUL bytes on one side of each pair; other NULs mean binary data."""
    sample = data[:4096]
    if b"\x00" not in sample:
        return None
    pairs = len(sample) // 2 or 1
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * pairs and even < 0.02 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.02 * pairs:
        return "utf-16-be"
    raise UnsupportedType(_BINARY)


def _decode_legacy(data: bytes) -> str:
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and looks_western(western):
        return western
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UnsupportedType(_BINARY)
    return str(best)


def _read_text(path: Path, kind: str) -> str:
    """The decoded text of a text-kind file (HTML honours its <meta charset>); EmptyFile when blank."""
    data = path.read_bytes()
    text = (_html_declared_charset(data) if kind == "html" else None) or _decode(data)
    if not text.strip():
        raise EmptyFile("This file is empty.")
    return text


def _html_declared_charset(data: bytes) -> str | None:
    """The page decoded with its <meta charset> when it has no BOM, is not UTF-8 and the charset is known."""
    if data.startswith(tuple(bom for bom, _ in _BOMS)) or (match := _META_CHARSET.search(data[:4096])) is None:
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(match.group(1).decode("ascii")).replace("\r\n", "\n").replace("\r", "\n")
    except (LookupError, UnicodeDecodeError):
        return None


# --- Upload-time checks ---------------------------------------------------------------------------------


def check_file(path: Path, kind: str) -> None:
    """Fast checks at upload, before the file is stored (a 25 MB file takes milliseconds).

    pdf: pdfium opens it and it has pages (``EncryptedPdf``, ``CorruptFile``). docx: a sane ZIP (``ZipBomb``,
    ``CorruptFile``) that holds word/document.xml (else ``UnsupportedType``). Text kinds: the first 64 KiB
    decode as text (``UnsupportedType``). Any kind: ``EmptyFile`` for 0 bytes. ValueError for unknown kinds.
    """
    if path.stat().st_size == 0:
        raise EmptyFile("This file is empty.")
    if kind == "pdf":
        _open_pdf(path).close()
    elif kind == "docx":
        _check_docx(path)
    elif kind in TEXT_KINDS:
        with path.open("rb") as file:
            _decode(file.read(SNIFF_BYTES), partial=True)
    else:
        raise ValueError(f"unknown kind {kind!r}")


def _open_pdf(path: Path) -> pypdfium2.PdfDocument:
    """Open a PDF with pdfium (the caller closes it); raises EncryptedPdf or CorruptFile."""
    try:
        pdf = pypdfium2.PdfDocument(str(path))
    except pypdfium2.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise EncryptedPdf(
                "This PDF is password-protected. Remove the password (for example by printing it to a new PDF) "
                "and upload it again."
            ) from exc
        raise CorruptFile("This PDF is damaged or not a PDF, so it cannot be read.") from exc
    if len(pdf) == 0:
        pdf.close()
        raise CorruptFile("This PDF is damaged or not a PDF: it has no pages.")
    return pdf


def _check_docx(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise CorruptFile("This DOCX file is damaged or not a DOCX file, so it cannot be read.") from exc
    total = sum(member.file_size for member in members)
    if (
        len(members) > MAX_ZIP_MEMBERS
        or total > MAX_UNZIPPED_BYTES
        or any(m.file_size > RATIO_MIN_BYTES and m.file_size > MAX_ZIP_RATIO * max(m.compress_size, 1) for m in members)
    ):
        raise ZipBomb("This file would expand to far more data than it holds (a possible zip bomb), so it is not read.")
    if "word/document.xml" not in names:
        raise UnsupportedType(f"This looks like {describe_zip(names, mimetype)}; {SUPPORTED}")


# --- Extraction -----------------------------------------------------------------------------------------

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


class _Builder:
    """Accumulates paragraphs into one text, tracking heading paths, sections and page spans."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.pages: list[PageSpan] = []

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
            self.section(self.next_start(), tuple(text for _, text in self.headings))
            self.paragraph(title)

    def paragraph(self, text: str) -> None:
        for paragraph in _paragraphs(text):
            if self.parts:
                self.parts.append("\n\n")
                self.length += 2
            self.parts.append(paragraph)
            self.length += len(paragraph)

    def section(self, start: int, path: tuple[str, ...]) -> None:
        """Add a section (call in char_start order); one at the same offset as the last replaces it."""
        if self.sections and self.sections[-1].char_start == start:
            self.sections[-1] = Section(start, path)
        else:
            self.sections.append(Section(start, path))

    def page(self, number: int, paragraphs: list[str]) -> None:
        count, start = len(self.parts), self.next_start()
        for paragraph in paragraphs:
            self.paragraph(paragraph)
        self.pages.append(PageSpan(number, start if len(self.parts) > count else self.length, self.length))

    def result(self, kind: str) -> ExtractedText:
        return ExtractedText(kind=kind, text="".join(self.parts), pages=self.pages, sections=self.sections)


def extract(path: Path, kind: str) -> ExtractedText:
    """Extract the whole text of the file at ``path`` (kind from ``sniff_kind``); see ``ExtractedText``.

    PDF pages get ``PageSpan``s and the PDF outline gives sections; DOCX/HTML/Markdown headings give
    sections; CSV rows become "column: value; ..." paragraphs under one ``Section(0, ())``. Raises
    ``EmptyFile``, ``EncryptedPdf``, ``CorruptFile``, ``ZipBomb``, ``UnsupportedType``, ``NoExtractableText``
    (no text, or a scanned PDF) or ``ExtractionError`` (over ``MAX_CSV_ROWS`` rows); ValueError for unknown kinds.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if path.stat().st_size == 0:
        raise EmptyFile("This file is empty.")
    if kind == "pdf":
        return _extract_pdf(path)
    builder = _Builder()
    if kind == "docx":
        _extract_docx(path, builder)
    elif kind == "csv":
        _extract_csv(_read_text(path, kind), builder)
    else:
        text = _read_text(path, kind)
        blocks: Iterable[Block] = [Block(text)]
        if kind == "html":
            blocks = html_blocks(text)
        elif kind == "markdown":
            blocks = markdown_blocks(text)
        for block in blocks:
            builder.add(block)
    result = builder.result(kind)
    if not result.text.strip():
        raise NoExtractableText("No text could be extracted from this file.")
    return result


def _extract_pdf(path: Path) -> ExtractedText:
    builder = _Builder()
    pdf = _open_pdf(path)
    try:
        for index in range(len(pdf)):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    builder.page(index + 1, pdf_page_paragraphs(textpage))
                finally:
                    textpage.close()
            finally:
                page.close()
        toc = [(mark.level, mark.get_title(), dest.get_index()) for mark in pdf.get_toc() if (dest := mark.get_dest())]
    except pypdfium2.PdfiumError as exc:
        raise CorruptFile("This PDF is damaged, so its text cannot be read.") from exc
    finally:
        pdf.close()
    text = "".join(builder.parts)
    if len("".join(text.split())) < MIN_PDF_CHARS:
        raise NoExtractableText("No text could be extracted: this looks like a scanned PDF (OCR is not supported).")
    _add_outline_sections(builder, text, toc)
    return builder.result("pdf")


def _add_outline_sections(builder: _Builder, text: str, toc: list[tuple[int, str, int | None]]) -> None:
    """Sections from the PDF outline: each bookmark starts where its title appears on its page (after the
    previous bookmark on that page), else at the page's start."""
    found: list[tuple[int, int, tuple[str, ...]]] = []
    stack: list[tuple[int, str]] = []
    for order, (level, raw_title, index) in enumerate(toc):
        title = " ".join(raw_title.split())
        if not title or index is None or not 0 <= index < len(builder.pages):
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        span = builder.pages[index]
        floor = max([span.char_start, *(start for start, _, _ in found if span.char_start <= start <= span.char_end)])
        position = text.find(title, floor, span.char_end)
        found.append((position if position >= 0 else floor, order, tuple(t for _, t in stack)))
    for start, _, path in sorted(found):
        builder.section(start, path)


def _extract_docx(path: Path, builder: _Builder) -> None:
    _check_docx(path)
    try:
        for block in docx_blocks(docx.Document(str(path))):
            builder.add(block)
    except (PythonDocxError, OpcError, KeyError, ValueError, zipfile.BadZipFile, lxml.etree.LxmlError) as exc:
        raise CorruptFile("This DOCX file is damaged, so its text cannot be read.") from exc


def _extract_csv(text: str, builder: _Builder) -> None:
    builder.section(0, ())
    try:
        for count, paragraph in enumerate(csv_paragraphs(text), start=1):
            if count > MAX_CSV_ROWS:
                raise ExtractionError(
                    f"This CSV file has more than {MAX_CSV_ROWS:,} rows; split it into smaller files and upload those."
                )
            builder.paragraph(paragraph)
    except csv.Error as exc:
        raise CorruptFile(f"This CSV file could not be read: {exc}.") from exc
