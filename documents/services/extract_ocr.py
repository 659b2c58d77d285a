"""Pages read by OCR during extraction (``documents.services.extract``): which PDF pages need it
(``needs_ocr``), one PDF page rendered at a time (``rendered``), the pages of an image upload
(``image_page_count``, ``image_page``), the page loop with its progress and deadline (``OcrReader``) and what
is recorded on the document version (``OcrReport``). The engine itself is ``documents.services.ocr``.

Ceilings per page: a rendered page or an image frame has at most ``OCR_MAX_IMAGE_PIXELS`` pixels (one byte
each: pages are rendered in grayscale), only one is decoded at a time, and tesseract stops after
``OCR_PAGE_MAX_SECONDS``. Per document: the extraction deadline (``EXTRACT_MAX_SECONDS`` plus
``OCR_MAX_SECONDS``) is checked before every page, and progress is reported after every page.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from documents.services.extract_errors import CorruptFile, DocumentTooLarge
from documents.services.filetypes import check_image_size
from documents.services.ocr import OcrError, ocr_page, ocr_status

if TYPE_CHECKING:
    import pypdfium2
    from PIL import Image

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (pages read by OCR so far, pages to read)


class Deadline(Protocol):
    """The extraction deadline (``extract._Builder``): checked before each page, moved later for OCR."""

    def check_deadline(self) -> None: ...

    def allow(self, seconds: int) -> None: ...


@dataclass(frozen=True)
class OcrPageRecord:
    """One page OCR read: its 1-based number, the mean confidence (0-100) of its words (None: no words) and
    their number; ``error`` when tesseract failed or timed out on it (the page then has no text); ``ms``, the
    milliseconds the page took, rendering or decoding included (from the end of the previous page)."""

    page: int
    confidence: float | None
    words: int
    error: str = ""
    ms: int = 0


@dataclass(frozen=True)
class OcrReport:
    """What OCR did for one document: ``pages``, the pages it read, in order; ``unread``, the pages that needed
    OCR while it was off here, and ``reason``, why it was off. Stored as ``DocumentVersion.ocr`` (``as_json``)."""

    pages: list[OcrPageRecord] = field(default_factory=list)
    unread: list[int] = field(default_factory=list)
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """``{"pages": [{"page", "confidence", "words", "error", "ms"}], "unread": [int], "reason": str}``."""
        return {"pages": [asdict(page) for page in self.pages], "unread": self.unread, "reason": self.reason}

    @property
    def first_error(self) -> str:
        """The first page's error ("" when every page was read)."""
        return next((page.error for page in self.pages if page.error), "")


def needs_ocr(paragraphs: list[str]) -> bool:
    """Whether a PDF page is read by OCR: its text layer (``paragraphs``) has fewer than ``OCR_MIN_PAGE_CHARS``
    non-space characters (none at all on a scanned page; a page number or a scanner's stamp at most)."""
    return sum(len("".join(paragraph.split())) for paragraph in paragraphs) < settings.OCR_MIN_PAGE_CHARS


@contextmanager
def rendered(page: pypdfium2.PdfPage) -> Iterator[Image.Image]:
    """The PDF page rendered in grayscale at ``OCR_DPI``, or at the lower resolution that keeps it within
    ``OCR_MAX_IMAGE_PIXELS`` (a poster-size page); its bitmap is freed on exit."""
    width, height = page.get_size()  # PDF points (1/72 inch)
    scale = settings.OCR_DPI / 72
    pixels = width * height * scale * scale
    if pixels > settings.OCR_MAX_IMAGE_PIXELS:
        scale *= math.sqrt(settings.OCR_MAX_IMAGE_PIXELS / pixels)
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        yield bitmap.to_pil()
    finally:
        bitmap.close()


def image_page_count(image: Image.Image, *, max_pages: int) -> int:
    """The pages of an opened image upload: every frame of a TIFF (a multi-page scan), the first frame of a PNG
    or JPEG. Reads each frame's header only, checking its size (``check_image_size``); leaves the image at its
    first frame. Raises ``ImageTooLarge``, ``DocumentTooLarge`` (more than ``max_pages`` frames) and
    ``CorruptFile``."""
    if image.format != "TIFF":
        return 1
    count = 0
    try:
        while True:
            image.seek(count)  # TIFF frames are read in order: linear in the frames
            count += 1
            if count > max_pages:
                raise DocumentTooLarge(
                    f"This image has more than {max_pages:,} pages, the most allowed; split it into smaller files"
                    " and upload those."
                )
            check_image_size(image, page=count)
    except EOFError:
        pass
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise CorruptFile(f"This image is damaged after its page {count}, so it cannot be read.") from exc
    image.seek(0)
    return count


def image_page(image: Image.Image, index: int) -> Image.Image:
    """Frame ``index`` of an opened image, decoded, upright (its EXIF orientation applied: a phone's photo of a
    page) and in grayscale (transparency flattened onto white). Raises ``CorruptFile``."""
    from PIL import Image, ImageOps

    try:
        image.seek(index)
        page = ImageOps.exif_transpose(image)
        if "A" in page.getbands():
            background = Image.new("RGB", page.size, "white")
            background.paste(page, mask=page.getchannel("A"))
            page = background
        return page if page.mode in ("1", "L") else page.convert("L")
    except (OSError, ValueError, SyntaxError, struct.error) as exc:
        raise CorruptFile(f"This image is damaged (page {index + 1}), so it cannot be read.") from exc


class OcrReader:
    """Reads a document's pages by OCR, one at a time, in page order: ``check_deadline`` runs before each page,
    ``progress(done, total)`` after each (and ``(0, total)`` at the start), and each page's result is recorded
    (a page tesseract fails on or gives up on is recorded with its error and gets no text)."""

    def __init__(self, *, total: int, progress: Progress | None, check_deadline: Callable[[], None]) -> None:
        self.total = total
        self.progress = progress
        self.check_deadline = check_deadline
        self.pages: list[OcrPageRecord] = []
        self._since = time.perf_counter()  # where the next page's time starts: its rendering comes before read()
        if progress and total:
            progress(0, total)

    def read(self, number: int, image: Image.Image) -> list[str]:
        """The paragraphs of page ``number`` (1-based) read from ``image``; [] when OCR failed on it."""
        self.check_deadline()
        try:
            page = ocr_page(image)
        except OcrError as exc:
            logger.warning("OCR of page %d failed: %s", number, exc.message)
            record = OcrPageRecord(number, None, 0, exc.message)
            paragraphs: list[str] = []
        else:
            record = OcrPageRecord(number, page.confidence, page.words)
            paragraphs = page.paragraphs
        now = time.perf_counter()
        self.pages.append(replace(record, ms=round((now - self._since) * 1000)))
        self._since = now
        if self.progress:
            self.progress(len(self.pages), self.total)
        return paragraphs

    def report(self, *, unread: list[int] | None = None, reason: str = "") -> OcrReport:
        return OcrReport(pages=self.pages, unread=unread or [], reason=reason)


def pdf_ocr(
    pdf: pypdfium2.PdfDocument, texts: list[list[str]], deadline: Deadline, progress: Progress | None
) -> OcrReport | None:
    """Replace the paragraphs (``texts``, one list per page) of the pages that need OCR (``needs_ocr``) by what
    OCR reads on them, rendering one page at a time, with ``OCR_MAX_SECONDS`` more before the ``deadline``; what
    OCR did, or None when no page needed it. Where OCR is off, those pages keep their text layer and the report
    names them."""
    scans = [index for index, paragraphs in enumerate(texts) if needs_ocr(paragraphs)]
    if not scans:
        return None
    status = ocr_status()
    if not status.enabled:
        return OcrReport(unread=[index + 1 for index in scans], reason=status.reason)
    deadline.allow(settings.OCR_MAX_SECONDS)
    reader = OcrReader(total=len(scans), progress=progress, check_deadline=deadline.check_deadline)
    for index in scans:
        page = pdf[index]
        try:
            with rendered(page) as image:
                texts[index] = reader.read(index + 1, image) or texts[index]
        finally:
            page.close()
    return reader.report()


def no_pdf_text(report: OcrReport | None) -> str:
    """Why a PDF gave no text, for the uploader: OCR off here (and why), nothing even by OCR, or no text."""
    if report and report.unread:
        return f"No text could be extracted: this looks like a scanned PDF, and {report.reason}"
    if report and report.pages:
        return f"No text could be extracted from this scanned PDF, even by OCR. {report.first_error}".strip()
    return "No text could be extracted from this PDF."
