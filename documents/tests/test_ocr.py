"""OCR in extraction (issue 15, item 1): the per-page decision, what tesseract's output becomes, whether OCR is
on and why not, real scans read with their page numbers and confidences, the ceilings per page and per
document, and the record shown on the document. Files are real text rendered with DejaVu fonts
(``documents.tests.scans``); tesseract is the real one (skipped without it, failed under REQUIRE_OCR)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import pypdfium2
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from accounts.selectors import workspace_get_personal
from documents.hostile import blank_png
from documents.models import Document, DocumentVersion
from documents.selectors import version_ocr_summary
from documents.services.extract import ExtractedText, extract
from documents.services.extract_errors import (
    CorruptFile,
    DocumentTooLarge,
    ExtractionTimeout,
    ImageTooLarge,
    NoExtractableText,
)
from documents.services.extract_ocr import OcrReport, needs_ocr, rendered
from documents.services.filetypes import check_file, sniff_kind
from documents.services.ingest import document_ingest
from documents.services.ocr import ocr_startup_check, ocr_status, page_from_data
from documents.services.upload import document_upload
from documents.tests import scans
from documents.tests.samples import REAL_TEXT, assert_well_formed


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def _ocr(extracted: ExtractedText) -> OcrReport:
    assert extracted.ocr is not None
    return extracted.ocr


def _page_text(extracted: ExtractedText, number: int) -> str:
    span = extracted.pages[number - 1]
    return extracted.text[span.char_start : span.char_end]


# --- without tesseract: the decision, tesseract's output, the status, the record ---------------------------


def test_a_pdf_page_is_read_by_ocr_when_its_text_layer_is_below_the_threshold(settings):
    settings.OCR_MIN_PAGE_CHARS = 50
    assert needs_ocr([])  # a scanned page: no text layer at all
    assert needs_ocr(["Page 3", "Scanned by CamScanner"])  # 25 non-space characters: a stamp, not the page
    assert not needs_ocr([REAL_TEXT[:80]])
    assert needs_ocr([" \n ".join("a" * 49)])  # spaces do not count
    settings.OCR_MIN_PAGE_CHARS = 0
    assert not needs_ocr([])  # 0 turns OCR of PDF pages off


def test_tesseract_words_become_lines_paragraphs_and_a_mean_confidence():
    rows = [  # tesseract's TSV: (block, paragraph, line, text, conf); non-word rows have conf -1
        (1, 1, 0, "", -1),
        (1, 1, 1, "Four", 96),
        (1, 1, 1, "score", 90),
        (1, 1, 1, "and", 95.5),
        (1, 1, 2, "seven", 93),
        (1, 1, 2, "   ", 0),
        (1, 2, 1, "Now", 80),
        (1, 2, 1, "exam-", 70),
        (1, 2, 2, "ple", 75),
        (2, 1, 1, "Next", 50),
    ]
    data: dict[str, list[object]] = {"block_num": [], "par_num": [], "line_num": [], "text": [], "conf": []}
    for block, paragraph, line, text, conf in rows:
        for key, value in zip(data, (block, paragraph, line, text, conf), strict=True):
            data[key].append(value)

    page = page_from_data(data)

    assert page.paragraphs == ["Four score and seven", "Now example", "Next"]
    assert page.words == 8
    assert page.confidence == round((96 + 90 + 95.5 + 93 + 80 + 70 + 75 + 50) / 8, 1)
    assert page_from_data({key: [] for key in data}).confidence is None


def test_ocr_is_off_with_the_reason_when_tesseract_or_a_language_is_missing(settings):
    settings.OCR_TESSERACT_CMD = "tesseract-not-here"
    status = ocr_status()
    assert not status.enabled
    assert status.reason == "OCR is off on this server: tesseract is not installed."
    settings.OCR_ENABLED = "false"
    assert ocr_status().reason == "OCR is off on this server (OCR_ENABLED is false)."


def test_a_missing_language_pack_turns_ocr_off_and_names_the_package(settings):
    scans.require_ocr()
    settings.OCR_LANGUAGES = "eng+chi_sim+xyz"
    status = ocr_status()
    assert not status.enabled and "chi_sim, xyz" in status.reason
    assert "tesseract-ocr-chi-sim tesseract-ocr-xyz" in status.reason


def test_the_worker_says_at_start_whether_ocr_is_on_and_refuses_to_start_when_it_is_required(settings, caplog):
    settings.OCR_TESSERACT_CMD = "tesseract-not-here"
    with caplog.at_level(logging.INFO, logger="documents.services.ocr"):
        ocr_startup_check()
    assert "OCR is off on this server: tesseract is not installed." in caplog.text
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in caplog.text
    settings.OCR_ENABLED = "true"
    with pytest.raises(ImproperlyConfigured, match="OCR_ENABLED is true, but OCR is off"):
        ocr_startup_check()


def test_the_record_gives_pages_read_mean_confidence_and_flags_low_pages(settings):
    settings.OCR_LOW_CONFIDENCE = 60
    version = DocumentVersion(
        page_count=40,
        ocr={
            "pages": [
                {"page": 3, "confidence": 95.0, "words": 300, "error": ""},
                {"page": 7, "confidence": 41.5, "words": 100, "error": ""},
                {"page": 9, "confidence": None, "words": 0, "error": "OCR of this page took longer than 60 seconds."},
            ],
            "unread": [],
            "reason": "",
        },
    )

    summary = version_ocr_summary(version=version)

    assert summary is not None
    assert (summary.pages_total, summary.pages_read) == (40, 2)
    assert summary.mean_confidence == round((95.0 * 300 + 41.5 * 100) / 400, 1)  # weighted by words
    assert summary.low_confidence_pages == [7] and summary.failed_pages == [9]
    assert [page.low_confidence for page in summary.pages] == [False, True, False]
    assert version_ocr_summary(version=DocumentVersion(ocr=None)) is None
    assert version_ocr_summary(version=None) is None


def test_progress_is_labelled_by_stage():
    assert Document(status="extracting", progress_done=12, progress_total=40).progress_label == "OCR 12 of 40 pages"
    assert Document(status="embedding", progress_done=3, progress_total=8).progress_label == "Embedded 3 of 8 chunks"
    assert Document(status="extracting").progress_label == ""


# --- hostile images: refused from the header, before anything is decoded -----------------------------------


def test_an_image_30000_pixels_square_is_refused_from_its_header(tmp_path):
    path = blank_png(tmp_path / "huge.png", 30_000)
    assert path.stat().st_size < 1_000_000  # 900 megapixels that compress to almost nothing
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "image"

    with pytest.raises(ImageTooLarge, match="has 900,000,000 pixels, more than the 40,000,000 pixels") as caught:
        check_file(path, "image")  # Pillow's own bound (2 x 89 megapixels), from the header
    assert caught.value.code == "image_too_large"
    with pytest.raises(ImageTooLarge):
        extract(path, "image")
    big = blank_png(tmp_path / "big.png", 8_000)  # 64 megapixels: under Pillow's bound, over ours
    with pytest.raises(ImageTooLarge, match="8,000 × 8,000 pixels, more than the 40,000,000 pixels"):
        check_file(big, "image")


def test_a_tiff_page_over_the_pixel_limit_or_too_many_pages_fails_with_the_reason(tmp_path, settings):
    settings.OCR_MAX_IMAGE_PIXELS = 1_000_000
    frames = [Image.new("L", (800, 1000), 255), Image.new("L", (1200, 1000), 255)]
    path = tmp_path / "pages.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    check_file(path, "image")  # the upload checks the first page only
    with pytest.raises(ImageTooLarge, match=r"This image \(page 2\) is 1,200 × 1,000 pixels"):
        extract(path, "image")
    frames[0].save(path, save_all=True, append_images=[frames[0]] * 3)
    with pytest.raises(DocumentTooLarge, match="more than 3 pages"):
        extract(path, "image", max_pages=3)


def test_a_poster_size_pdf_page_is_rendered_within_the_pixel_limit(settings):
    settings.OCR_MAX_IMAGE_PIXELS = 1_000_000
    pdf = pypdfium2.PdfDocument.new()
    page = pdf.new_page(7200, 7200)  # 100 inches square: 400 megapixels at 200 dpi
    try:
        with rendered(page) as image:
            assert image.mode == "L"
            assert 990_000 < image.width * image.height <= 1_000_000
    finally:
        page.close()
        pdf.close()


def test_a_damaged_image_is_refused_at_upload(tmp_path):
    path = _write(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert sniff_kind(path.read_bytes(), path.name) == "image"
    with pytest.raises(CorruptFile, match="damaged or not a PNG, JPEG or TIFF image") as caught:
        check_file(path, "image")
    assert caught.value.code == "corrupt_file"


# --- real scans through tesseract ---------------------------------------------------------------------------


@pytest.fixture
def ocr():
    scans.require_ocr()


@pytest.mark.usefixtures("ocr")
def test_a_photo_of_a_page_is_read_with_its_confidence_and_progress(tmp_path):
    path = _write(tmp_path, "photo.png", scans.photo_of_page())
    check_file(path, "image")
    calls = []

    extracted = extract(path, "image", progress=lambda done, total: calls.append((done, total)))

    assert_well_formed(extracted)
    assert "Four score and seven years ago our fathers brought forth" in extracted.text
    assert "government of the people, by the people, for the people" in extracted.text
    assert [page.number for page in extracted.pages] == [1]
    assert extracted.ocr is not None
    (page,) = _ocr(extracted).pages
    assert page.page == 1 and page.words > 250 and page.confidence is not None and page.confidence > 80
    assert page.ms > 100  # tesseract takes seconds on a page; the record keeps how long (for bench_ingest)
    assert calls == [(0, 1), (1, 1)]


@pytest.mark.usefixtures("ocr")
def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    sideways = scans.page(REAL_TEXT).rotate(90, expand=True)  # stored on its side, as a phone held sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "photo.jpg"
    sideways.save(path, format="JPEG", quality=90, exif=exif)

    extracted = extract(path, "image")

    assert "Four score and seven years ago" in extracted.text


@pytest.mark.usefixtures("ocr")
def test_each_frame_of_a_tiff_is_a_page(tmp_path):
    path = _write(tmp_path, "scan.tif", scans.multipage_tiff([scans.DECLARATION[2], scans.DECLARATION[3]]))

    extracted = extract(path, "image")

    assert [page.number for page in extracted.pages] == [1, 2]
    assert "When in the Course of human events" in _page_text(extracted, 1)
    assert "We hold these truths to be self-evident" in _page_text(extracted, 2)
    assert [page.page for page in _ocr(extracted).pages] == [1, 2]


@pytest.mark.usefixtures("ocr")
def test_an_image_only_pdf_is_read_by_ocr_keeping_its_page_numbers(tmp_path):
    path = _write(tmp_path, "scan.pdf", scans.image_pdf([REAL_TEXT, scans.DECLARATION[2]]))

    extracted = extract(path, "pdf")

    assert_well_formed(extracted)
    assert "Four score and seven years ago" in _page_text(extracted, 1)
    assert "When in the Course of human events" in _page_text(extracted, 2)
    assert [(page.page, (page.confidence or 0) > 80) for page in _ocr(extracted).pages] == [(1, True), (2, True)]


@pytest.mark.usefixtures("ocr")
def test_a_mixed_pdf_reads_only_its_scanned_page_by_ocr(tmp_path):
    path = scans.mixed_pdf(
        tmp_path, [("text", REAL_TEXT), ("scan", scans.SCANNED_ONLY), ("text", scans.DECLARATION[2])]
    )
    calls = []

    extracted = extract(path, "pdf", progress=lambda done, total: calls.append((done, total)))

    assert [page.page for page in _ocr(extracted).pages] == [2]
    assert calls == [(0, 1), (1, 1)]  # "OCR 1 of 1 pages": only the scanned page counts
    assert "With malice toward none, with charity for all" in _page_text(extracted, 2)
    assert _page_text(extracted, 1).startswith("Four score and seven years ago")
    assert "malice" not in _page_text(extracted, 1) + _page_text(extracted, 3)


def test_with_ocr_off_scans_fail_with_the_reason_and_a_mixed_pdf_names_its_unread_pages(tmp_path, settings):
    settings.OCR_TESSERACT_CMD = "tesseract-not-here"
    reason = "OCR is off on this server: tesseract is not installed."
    scan = _write(tmp_path, "scan.pdf", scans.image_pdf(["Only pixels here."]))
    with pytest.raises(NoExtractableText, match=re.escape("this looks like a scanned PDF, and " + reason)):
        extract(scan, "pdf")
    photo = _write(tmp_path, "photo.png", scans.photo_of_page("A short page."))
    with pytest.raises(NoExtractableText, match=re.escape("images are read by OCR, and " + reason)):
        extract(photo, "image")

    mixed = scans.mixed_pdf(tmp_path, [("text", REAL_TEXT), ("scan", scans.SCANNED_ONLY)])
    extracted = extract(mixed, "pdf")  # the text page is still read; the scanned one is named, not skipped silently
    assert extracted.ocr is not None
    assert (_ocr(extracted).pages, extracted.ocr.unread, extracted.ocr.reason) == ([], [2], reason)


@pytest.mark.usefixtures("ocr")
def test_a_page_over_its_time_limit_is_recorded_and_a_scan_of_only_such_pages_fails(tmp_path, settings):
    settings.OCR_PAGE_MAX_SECONDS = 0.001  # tesseract cannot even start in a millisecond
    photo = _write(tmp_path, "photo.png", scans.photo_of_page())
    with pytest.raises(
        NoExtractableText, match=re.escape("even by OCR. OCR of this page took longer than 0.001 seconds.")
    ):
        extract(photo, "image")

    mixed = scans.mixed_pdf(tmp_path, [("text", REAL_TEXT), ("scan", scans.SCANNED_ONLY)])
    extracted = extract(mixed, "pdf")
    assert _ocr(extracted).pages[0].page == 2 and "took longer than" in _ocr(extracted).pages[0].error
    assert [page.number for page in extracted.pages] == [1, 2] and "Four score" in extracted.text


@pytest.mark.usefixtures("ocr")
def test_the_extraction_deadline_is_checked_before_each_page_and_ocr_gets_its_own_time(tmp_path, settings):
    path = _write(tmp_path, "scan.tif", scans.multipage_tiff(["First page.", "Second page."]))
    settings.EXTRACT_MAX_SECONDS = 0
    settings.OCR_MAX_SECONDS = 0
    calls = []
    with pytest.raises(ExtractionTimeout, match="took longer than 0 seconds"):
        extract(path, "image", progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 2)]  # stopped before its first page

    settings.OCR_MAX_SECONDS = 600
    extracted = extract(path, "image")  # no time for text, but OCR's own
    assert "Second page." in _page_text(extracted, 2)


@pytest.mark.django_db
@pytest.mark.usefixtures("ocr")
def test_a_document_read_by_ocr_keeps_its_worker_to_the_end(alice, bob, settings):
    """A turn that yields (documents.services.scheduling) redoes extraction when the document resumes: for a
    scan that is all its OCR again, every turn. So a document read by OCR does not yield."""
    settings.EMBEDDING_BATCH_SIZE = 1  # a yield check after every chunk
    settings.INGEST_SLICE_SECONDS = 0.001
    settings.INGEST_YIELD_WAIT_SECONDS = 0
    waiting = document_upload(
        workspace=workspace_get_personal(user=bob), user=bob, file=ContentFile(b"Waiting."), filename="w.txt"
    ).document
    Document.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))  # starving
    scan = scans.multipage_tiff([REAL_TEXT, scans.DECLARATION[3]])
    result = document_upload(
        workspace=workspace_get_personal(user=alice),
        user=alice,
        file=ContentFile(scan),
        filename="s.tif",
        enqueue=False,
    )

    assert document_ingest(document_id=result.document.pk, may_yield=True) == "ready"
    document = Document.objects.get(pk=result.document.pk)
    assert document.chunk_count >= 3 and document.attempts == 1
