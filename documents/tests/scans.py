"""Scanned files for the OCR tests, made from real public-domain text rendered with DejaVu fonts
(``documents.bench_corpus.text_page_image``): a photo of a page (PNG), a multi-page TIFF, an image-only PDF and a
mixed PDF (text pages and a scanned page). ``require_ocr`` skips a test, or fails it under ``REQUIRE_OCR`` (CI),
when tesseract, its English data or the fonts are missing.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image, ImageFilter
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen import canvas

from documents.bench_corpus import SCAN_FONT, text_page_image
from documents.demo_corpus.builders.common import read_source
from documents.tests.samples import REAL_TEXT

DPI = 200  # the scans' resolution: tesseract reads 11-point text at it with ~95 % mean confidence
# Only in the scanned page of the mixed PDF (Lincoln's Second Inaugural Address, 1865; public domain).
SCANNED_ONLY = next(p for p in read_source("lincoln_second_inaugural.txt").split("\n\n") if "malice" in p)
# Two pages of the Declaration of Independence (1776; public domain).
DECLARATION = read_source("declaration.txt").split("\n\n")


def require_ocr() -> None:
    """Skip the test (fail it when the REQUIRE_OCR setting is on) without tesseract, its "eng" data or DejaVu."""
    from documents.services.ocr import ocr_status

    status = ocr_status()
    missing = [] if status.enabled else [status.reason]
    if not SCAN_FONT.exists():
        missing.append(f"the DejaVu fonts are not installed ({SCAN_FONT}: apt-get install fonts-dejavu-core)")
    if missing:
        message = "; ".join(missing) + " (apt-get install tesseract-ocr tesseract-ocr-eng fonts-dejavu-core)"
        if settings.REQUIRE_OCR:
            pytest.fail(f"REQUIRE_OCR is set: {message}")
        pytest.skip(message)
    assert shutil.which(settings.OCR_TESSERACT_CMD)


def page(text: str) -> Image.Image:
    """A clean scan of one page of ``text`` at ``DPI``."""
    return text_page_image(text, dpi=DPI)


def photo_of_page(text: str = REAL_TEXT) -> bytes:
    """A PNG like a phone's photo of a printed page: grey paper, dark grey ink, slightly turned and soft."""
    scan = page(text).point(lambda value: 60 + value * 170 // 255)  # ink 60, paper 230
    photo = scan.rotate(1.2, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=200)
    buffer = io.BytesIO()
    photo.filter(ImageFilter.GaussianBlur(0.7)).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def multipage_tiff(texts: list[str]) -> bytes:
    """A TIFF with one frame per text (a multi-page scan), deflate-compressed."""
    images = [page(text) for text in texts]
    buffer = io.BytesIO()
    images[0].save(buffer, format="TIFF", save_all=True, append_images=images[1:], compression="tiff_deflate")
    return buffer.getvalue()


def image_pdf(texts: list[str]) -> bytes:
    """A PDF of page images only (no text layer at all), one page per text, as Pillow writes it."""
    images = [page(text) for text in texts]
    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", resolution=DPI, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def mixed_pdf(directory: Path, pages: list[tuple[str, str]], name: str = "mixed.pdf") -> Path:
    """A PDF whose pages are ("text", text): a text layer, drawn by reportlab; or ("scan", text): a page image
    only. Both letter size."""
    path = directory / name
    pdf = canvas.Canvas(str(path), pagesize=LETTER)
    width, height = LETTER
    for kind, text in pages:
        if kind == "scan":
            pdf.drawImage(ImageReader(page(text)), 0, 0, width=width, height=height)
        else:
            y = height - 72
            for paragraph in text.split("\n\n"):
                for line in simpleSplit(paragraph, "Helvetica", 11, width - 144):
                    pdf.setFont("Helvetica", 11)
                    pdf.drawString(72, y, line)
                    y -= 14
                y -= 14
        pdf.showPage()
    pdf.save()
    return path
