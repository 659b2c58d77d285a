"""What a file is: its kind decided from its content (``sniff_kind``) and the fast checks at upload
(``check_file``), before anything is stored. Binary formats are named ("a PNG image") so the uploader
learns what they sent."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pypdfium2
import pypdfium2.raw as pdfium_c

from documents.services.containers import ZIP_KINDS, check_zip, zip_kind, zip_kind_by_name
from documents.services.decode import decode_text
from documents.services.extract_errors import SUPPORTED, CorruptFile, EmptyFile, EncryptedPdf, UnsupportedType

TEXT_KINDS = ("html", "markdown", "text", "csv")
KINDS = ("pdf", *ZIP_KINDS, *TEXT_KINDS)  # ZIP_KINDS: docx, pptx, xlsx, odt, ods, odp, epub
SNIFF_BYTES = 64 * 1024  # how much of the head sniff_kind and check_file look at
_ZIP_MAGIC = b"PK\x03\x04"

_LEADING_NOISE = re.compile(r"^(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)+", re.DOTALL)
_HTML_TAG = re.compile(r"<(?:head|body|p|div)[\s>]", re.IGNORECASE)
_ATX_LINE = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old-format Microsoft Office file (.doc, .xls or .ppt)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a Linux program"),
    (b"MZ\x90\x00", "a Windows program"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
    (b"\x1aE\xdf\xa3", "a WebM or Matroska video"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)
_RIFF = {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}
_HEIF_BRANDS = (b"heic", b"heix", b"mif1", b"avif")


def sniff_kind(head: bytes, filename: str = "") -> str:
    """Decide the kind (one of ``KINDS``) from the first up to 64 KiB of a file; ``filename``'s extension
    only breaks ties between text kinds (.md -> markdown, .csv/.tsv -> csv, .txt -> never csv).

    A ZIP's kind is only guessed from ``filename`` here (``zip_kind_by_name``): ``sniff_file`` decides it from
    the archive's members. Raises ``EmptyFile`` (no bytes or only whitespace) and ``UnsupportedType`` (binary
    content, naming the format when it is known).
    """
    head = head[:SNIFF_BYTES]
    if not head.strip():
        raise EmptyFile("This file is empty.")
    if 0 <= head.find(b"%PDF-") <= 1024:
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        return zip_kind_by_name(filename)
    if what := describe_binary(head):
        raise UnsupportedType(f"This looks like {what}; {SUPPORTED}")
    text = decode_text(head, partial=True)
    if not text.strip():
        raise EmptyFile("This file is empty.")
    return _text_kind(text, Path(filename).suffix.lower())


def sniff_file(path: Path, filename: str = "") -> str:
    """The kind (one of ``KINDS``) of the file at ``path``: ``sniff_kind`` on its head, and for a ZIP the
    format its members show (``zip_kind``: DOCX, PPTX, XLSX, ODT, ODS, ODP or EPUB), whatever its name says.
    Raises ``EmptyFile``, ``UnsupportedType`` and, for a damaged ZIP, ``CorruptFile``."""
    with path.open("rb") as file:
        head = file.read(SNIFF_BYTES)
    kind = sniff_kind(head, filename)
    return zip_kind(path, filename) if head.startswith(_ZIP_MAGIC) else kind


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


def check_file(path: Path, kind: str) -> None:
    """Fast checks at upload, before the file is stored (a 25 MB file takes milliseconds).

    pdf: pdfium opens it and it has pages (``EncryptedPdf``, ``CorruptFile``). ZIP kinds (docx, pptx, xlsx,
    odt, ods, odp, epub): a sane ZIP holding the format's main part (``check_zip``: ``ZipBomb``,
    ``CorruptFile``, ``UnsupportedType``). Text kinds: the first 64 KiB
    decode as text (``UnsupportedType``). Any kind: ``EmptyFile`` for 0 bytes. ValueError for unknown kinds.
    """
    if path.stat().st_size == 0:
        raise EmptyFile("This file is empty.")
    if kind == "pdf":
        open_pdf(path).close()
    elif kind in ZIP_KINDS:
        check_zip(path, kind)
    elif kind in TEXT_KINDS:
        with path.open("rb") as file:
            decode_text(file.read(SNIFF_BYTES), partial=True)
    else:
        raise ValueError(f"unknown kind {kind!r}")


def open_pdf(path: Path) -> pypdfium2.PdfDocument:
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


def describe_binary(head: bytes) -> str | None:
    """What a file's head says it is by its magic number ("a PNG image", ...), or None when unknown."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head.startswith(b"RIFF") and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    if head[4:8] == b"ftyp":
        return "a HEIC/AVIF image" if head[8:12] in _HEIF_BRANDS else "an MP4 or QuickTime video"
    return None


def looks_delimited(text: str) -> bool:
    """True when at least 3 of the first 20 non-empty lines split (by comma, tab or semicolon) into the same
    number (> 1) of fields averaging under 60 characters (prose with commas has long, uneven fields)."""
    lines = [line for line in text.split("\n", 40)[:40] if line.strip()][:20]
    if len(lines) < 3:
        return False
    for delimiter in (",", "\t", ";"):
        rows = list(csv.reader(lines, delimiter=delimiter))
        widths = {len(row) for row in rows}
        cells = [cell for row in rows for cell in row]
        if len(widths) == 1 and widths.pop() > 1 and sum(map(len, cells)) / len(cells) < 60:
            return True
    return False
