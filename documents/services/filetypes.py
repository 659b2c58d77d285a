"""What a file is: its kind decided from its content (``sniff_kind``) and the fast checks at upload
(``check_file``), before anything is stored. Binary formats we do not read are named ("a GIF image") so the
uploader learns what they sent."""

from __future__ import annotations

import csv
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2
import pypdfium2.raw as pdfium_c
from django.conf import settings

from documents.services.containers import ZIP_KINDS, check_zip, zip_kind, zip_kind_by_name
from documents.services.decode import decode_text
from documents.services.extract_errors import (
    SUPPORTED,
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ImageTooLarge,
    UnsupportedType,
)

if TYPE_CHECKING:
    from PIL import Image

TEXT_KINDS = ("html", "markdown", "text", "csv")
KINDS: tuple[str, ...] = ("pdf", *ZIP_KINDS, *TEXT_KINDS, "image")  # ZIP_KINDS: docx, pptx, xlsx, odt, ods, odp, epub
KINDS += ("eml",)  # e-mail messages (RFC 822): sniffed from their headers
SNIFF_BYTES = 64 * 1024  # how much of the head sniff_kind and check_file look at
_ZIP_MAGIC = b"PK\x03\x04"

_LEADING_NOISE = re.compile(r"^(?:\s+|<!--.*?-->|<\?xml[^>]*\?>)+", re.DOTALL)
_HTML_TAG = re.compile(r"<(?:head|body|p|div)[\s>]", re.IGNORECASE)
_ATX_LINE = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.MULTILINE)
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF")  # read by OCR (Pillow's format names)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*")
_MAGIC = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
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
    the archive's members; PNG, JPEG and TIFF are "image". Raises ``EmptyFile`` (no bytes or only whitespace) and
    ``UnsupportedType`` (binary content, naming the format when it is known).
    """
    head = head[:SNIFF_BYTES]
    if not head.strip():
        raise EmptyFile("This file is empty.")
    if 0 <= head.find(b"%PDF-") <= 1024:
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        return zip_kind_by_name(filename)
    if head.startswith(_IMAGE_MAGIC):
        return "image"
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
    if looks_like_email(text):
        return "eml"
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
    ``CorruptFile``, ``UnsupportedType``). image: Pillow reads its header and its first frame is within
    ``OCR_MAX_IMAGE_PIXELS`` (``CorruptFile``, ``ImageTooLarge``). Text kinds and eml: the first 64 KiB decode as
    text (``UnsupportedType``). Any kind: ``EmptyFile`` for 0 bytes. ValueError for unknown kinds.
    """
    if path.stat().st_size == 0:
        raise EmptyFile("This file is empty.")
    if kind == "pdf":
        open_pdf(path).close()
    elif kind in ZIP_KINDS:
        check_zip(path, kind)
    elif kind == "image":
        open_image(path).close()
    elif kind in TEXT_KINDS or kind == "eml":
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


def open_image(path: Path) -> Image.Image:
    """Open a PNG, JPEG or TIFF image with Pillow, reading its header only (the caller closes it), and check its
    first frame's size (``check_image_size``). Raises ``CorruptFile`` and ``ImageTooLarge``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # Pillow warns over MAX_IMAGE_PIXELS; our own limit decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as exc:  # over twice Pillow's MAX_IMAGE_PIXELS, read from the header
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(pixels[1]):,}" if pixels else f"more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,}"
        raise ImageTooLarge(_too_large(f"This image has {size} pixels")) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise CorruptFile("This image is damaged or not a PNG, JPEG or TIFF image, so it cannot be read.") from exc
    try:
        check_image_size(image, page=1)
    except ImageTooLarge:
        image.close()
        raise
    return image


def check_image_size(image: Image.Image, *, page: int) -> None:
    """Raise ``ImageTooLarge`` when the image's current frame (1-based ``page``, named when > 1) has more than
    ``OCR_MAX_IMAGE_PIXELS`` pixels: read from its header, before anything is decoded."""
    width, height = image.size
    if width * height > settings.OCR_MAX_IMAGE_PIXELS:
        where = f" (page {page})" if page > 1 else ""
        raise ImageTooLarge(_too_large(f"This image{where} is {width:,} × {height:,} pixels"))


def _too_large(description: str) -> str:
    return (
        f"{description}, more than the {settings.OCR_MAX_IMAGE_PIXELS:,} pixels OCR reads; scale it down (300 dpi is"
        " plenty for text) and upload it again."
    )


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


# RFC 5322 headers that mark a message; a message starts with at least two of them, one of the first group.
_MAIL_HEADERS = {"from", "received", "message-id", "return-path", "delivered-to", "mime-version"}
_MAIL_HEADERS_OTHER = {"to", "cc", "subject", "date", "reply-to", "sender", "x-mailer", "content-type"}
_HEADER_LINE = re.compile(r"([!-9;-~]{1,76}):")


def looks_like_email(text: str) -> bool:
    """True when ``text`` starts with an RFC 5322 header block (an mbox "From " line may come first): only header
    lines ("Name: value") and their continuation lines up to the first blank line (at most 200 lines), naming at
    least two message headers, one of From, Received, Message-ID, Return-Path, Delivered-To, MIME-Version."""
    lines = text.split("\n", 201)[:200]
    if lines and lines[0].startswith("From "):
        lines = lines[1:]
    names: set[str] = set()
    for line in lines:
        if not line.strip():
            break
        if line[:1] in (" ", "\t") and names:
            continue
        if not (match := _HEADER_LINE.match(line)):
            return False
        names.add(match.group(1).lower())
    known = names & (_MAIL_HEADERS | _MAIL_HEADERS_OTHER)
    return len(known) >= 2 and bool(names & _MAIL_HEADERS)


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
