"""Tesseract OCR behind one small module: whether OCR is on in this process (``ocr_status``), one page image
to paragraphs and a confidence (``ocr_page``), and one error type (``OcrError``). pytesseract runs the
``tesseract`` program (Debian's ``tesseract-ocr``, 5.x) once per page, with one OpenMP thread: its default
threading made a page 3x slower on a shared 2-core machine (1.2 s against 6.9 s for a 200-dpi page), and the
worker's processes already use the cores.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from documents.services.extract_errors import ExtractionError
from documents.services.formats.pdf import join_lines

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)


class OcrError(ExtractionError):
    """Tesseract failed on one page, or took longer than ``OCR_PAGE_MAX_SECONDS``."""

    code = "ocr_failed"


@dataclass(frozen=True)
class OcrStatus:
    """Whether this process can OCR. ``reason``: why not, as a sentence the uploader reads ("OCR is off on
    this server: tesseract is not installed."); "" when on. ``version``: tesseract's, when found."""

    enabled: bool
    reason: str
    version: str = ""


@dataclass(frozen=True)
class OcrPage:
    """One page as OCR read it: its paragraphs (lines joined, words hyphenated across lines rejoined), the mean
    confidence (0-100) of its words (None when it has none) and their number."""

    paragraphs: list[str]
    confidence: float | None
    words: int


@functools.cache
def ocr_status() -> OcrStatus:
    """Whether OCR is on (``OCR_ENABLED``; "auto": when the ``OCR_TESSERACT_CMD`` program and every
    ``OCR_LANGUAGES`` pack are found). Checked once per process (runs ``tesseract --version`` and
    ``--list-langs``); cleared when an ``OCR_*`` setting changes."""
    if settings.OCR_ENABLED == "false":
        return OcrStatus(False, "OCR is off on this server (OCR_ENABLED is false).")
    if not shutil.which(settings.OCR_TESSERACT_CMD):
        return OcrStatus(False, "OCR is off on this server: tesseract is not installed.")
    pytesseract = _pytesseract()
    try:
        version = str(pytesseract.get_tesseract_version())
        installed = set(pytesseract.get_languages())
    except (pytesseract.TesseractNotFoundError, OSError, SystemExit) as exc:  # SystemExit: an unreadable version
        return OcrStatus(False, f"OCR is off on this server: tesseract does not run ({exc}).")
    missing = [code for code in settings.OCR_LANGUAGES.split("+") if code not in installed]
    if missing:
        packs = " ".join(f"tesseract-ocr-{code.replace('_', '-').lower()}" for code in missing)
        return OcrStatus(
            False,
            f"OCR is off on this server: tesseract has no language data for {', '.join(missing)} (install {packs}).",
            version,
        )
    return OcrStatus(True, "", version)


def ocr_startup_check() -> OcrStatus:
    """Log whether OCR is on in this worker and why not (once, at the worker's start); returns the status.
    Raises ``ImproperlyConfigured`` when ``OCR_ENABLED`` is "true" and OCR is off."""
    from django.core.exceptions import ImproperlyConfigured

    status = ocr_status()
    if status.enabled:
        logger.info("OCR is on: tesseract %s, languages %s", status.version, settings.OCR_LANGUAGES)
    elif settings.OCR_ENABLED == "true":
        raise ImproperlyConfigured(f"OCR_ENABLED is true, but {status.reason}")
    else:
        logger.warning(
            "%s Scanned PDFs and images fail with this reason until it is installed (Debian/Ubuntu: apt-get install"
            " tesseract-ocr tesseract-ocr-eng; `make run` does it as root).",
            status.reason,
        )
    return status


def ocr_page(image: Image.Image) -> OcrPage:
    """Read one page image (any mode; grayscale is fastest) with tesseract in ``OCR_LANGUAGES``, stopped after
    ``OCR_PAGE_MAX_SECONDS``. Raises ``OcrError`` (timed out, or tesseract failed). The caller checks
    ``ocr_status`` first and bounds the image's size (``OCR_MAX_IMAGE_PIXELS``)."""
    pytesseract = _pytesseract()
    seconds = settings.OCR_PAGE_MAX_SECONDS
    try:
        data = pytesseract.image_to_data(
            image, lang=settings.OCR_LANGUAGES, timeout=seconds, output_type=pytesseract.Output.DICT
        )
    except RuntimeError as exc:  # TesseractError is one; pytesseract's timeout is a bare RuntimeError
        if str(exc) == "Tesseract process timeout":
            raise OcrError(f"OCR of this page took longer than {seconds:g} seconds.") from exc
        raise OcrError(f"OCR of this page failed ({exc}).") from exc
    except OSError as exc:  # the program vanished, a temporary file could not be written
        raise OcrError(f"OCR of this page failed ({exc}).") from exc
    return page_from_data(data)


def page_from_data(data: Mapping[str, Sequence[Any]]) -> OcrPage:
    """An ``OcrPage`` from tesseract's TSV as a dict of columns (``image_to_data(..., output_type=DICT)``): one
    row per block, paragraph, line and word, in reading order; words have a ``conf`` of 0-100 (others -1).
    Words are joined by line, lines by paragraph (``block_num``, ``par_num``)."""
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    confidences: list[float] = []
    for index, raw in enumerate(data["text"]):
        word, confidence = str(raw).strip(), float(data["conf"][index])
        if not word or confidence < 0:
            continue
        paragraph = (int(data["block_num"][index]), int(data["par_num"][index]))
        paragraphs.setdefault(paragraph, {}).setdefault(int(data["line_num"][index]), []).append(word)
        confidences.append(confidence)
    texts = []
    for lines in paragraphs.values():
        text = ""
        for words in lines.values():
            text = join_lines(text, " ".join(words), " ") if text else " ".join(words)
        texts.append(text)
    mean = round(sum(confidences) / len(confidences), 1) if confidences else None
    return OcrPage(texts, mean, len(confidences))


@functools.cache
def _pytesseract() -> Any:
    """pytesseract, set up once per process: the program ``OCR_TESSERACT_CMD``, run with ``OMP_THREAD_LIMIT=1``.
    pytesseract passes its module's ``environ`` to every tesseract it starts; the limit goes there only, not into
    this process's environment, where it would also cap torch's OpenMP threads."""
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = settings.OCR_TESSERACT_CMD
    pytesseract.pytesseract.environ = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    return pytesseract


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("OCR_"):
        ocr_status.cache_clear()
        _pytesseract.cache_clear()
