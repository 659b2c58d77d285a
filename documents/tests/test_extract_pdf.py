"""Tests for documents.services.extract of PDFs: page spans, outline sections, lines, damaged and scanned files.

No database: these work on files written into pytest's tmp_path by ``documents.tests.samples``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.services.extract import Section, extract
from documents.services.extract_errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    NoExtractableText,
)
from documents.services.filetypes import check_file, sniff_kind
from documents.tests.samples import (
    REAL_TEXT,
    OutlineEntry,
    assert_well_formed,
    extract_checked,
    heading_at,
    make_corrupt_pdf,
    make_encrypted_pdf,
    make_pdf,
    make_scanned_pdf,
    write,
)
from documents.tests.scans import require_ocr

# --- PDF ------------------------------------------------------------------------------------------------


def test_pdf_pages_have_exact_spans(tmp_path: Path) -> None:
    pages = ["Page one says hello to the reader.", REAL_TEXT, "The third and last page."]
    path = make_pdf(tmp_path, pages, name="speech.txt")
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    result = extract_checked(path, "pdf")
    assert [page.number for page in result.pages] == [1, 2, 3]
    spans = [result.text[page.char_start : page.char_end] for page in result.pages]
    assert spans == pages  # wrapped lines rejoined with spaces, paragraphs kept
    assert result.text == "\n\n".join(pages)
    assert result.sections == []


def test_pdf_outline_gives_sections(tmp_path: Path) -> None:
    pages = ["Preface\n\nWhy this book exists.", "Chapter One\n\nIt begins.", "More of chapter one.", "Notes\n\nEnd."]
    outline: list[OutlineEntry] = [("Preface", 1), ("Chapter One", 2), ("Part A", 3, 1), ("Notes", 4)]
    result = extract_checked(make_pdf(tmp_path, pages, outline=outline), "pdf")
    starts = [page.char_start for page in result.pages]
    assert result.sections == [
        Section(starts[0], ("Preface",)),
        Section(starts[1], ("Chapter One",)),
        Section(starts[2], ("Chapter One", "Part A")),
        Section(starts[3], ("Notes",)),
    ]
    assert heading_at(result, "It begins") == ("Chapter One",)
    assert heading_at(result, "More of chapter one") == ("Chapter One", "Part A")


def test_pdf_bookmark_inside_a_page_starts_at_its_title(tmp_path: Path) -> None:
    pages = ["Intro text here.\n\nMethods\n\nWe measured things carefully."]
    result = extract_checked(make_pdf(tmp_path, pages, outline=[("Methods", 1)]), "pdf")
    assert result.sections == [Section(result.text.index("Methods"), ("Methods",))]


def test_pdf_lines_and_hyphenation(tmp_path: Path) -> None:
    page = "This is an exam-\nple of hyphen-\nation across lines, and Jean-\nPaul keeps his.\n\nA second paragraph."
    result = extract_checked(make_pdf(tmp_path, [page]), "pdf")
    assert result.text.split("\n\n") == [
        "This is an example of hyphenation across lines, and Jean-Paul keeps his.",
        "A second paragraph.",
    ]


def test_pdf_short_lines_ending_sentences_end_paragraphs(tmp_path: Path) -> None:
    # No empty lines between the paragraphs: only their short last lines ending a sentence separate them.
    lines = [
        "Four score and seven years ago our fathers brought forth on this continent, a new nation,",
        "conceived in Liberty.",
        "Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived",
        "and so dedicated, can long endure.",
        "No full stop at the end",
    ]
    result = extract_checked(make_pdf(tmp_path, ["\n".join(lines)]), "pdf")
    assert result.text.split("\n\n") == [f"{lines[0]} {lines[1]}", f"{lines[2]} {lines[3]}", lines[4]]


def test_pdf_empty_page_keeps_its_span(tmp_path: Path) -> None:
    result = extract_checked(make_pdf(tmp_path, [REAL_TEXT, "", "Last page text."]), "pdf")
    assert [(page.char_end - page.char_start) > 0 for page in result.pages] == [True, False, True]
    assert result.text[result.pages[2].char_start : result.pages[2].char_end] == "Last page text."


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = make_encrypted_pdf(tmp_path)
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    with pytest.raises(EncryptedPdf, match="password-protected") as caught:
        check_file(path, "pdf")
    assert caught.value.code == "encrypted_pdf"


def test_corrupt_pdf(tmp_path: Path) -> None:
    path = make_corrupt_pdf(tmp_path)
    assert sniff_kind(path.read_bytes()[:65536], path.name) == "pdf"
    with pytest.raises(CorruptFile, match="damaged") as caught:
        check_file(path, "pdf")
    assert caught.value.code == "corrupt_file"
    with pytest.raises(CorruptFile):
        extract(path, "pdf")


def test_a_scanned_pdf_of_drawings_has_no_text_even_by_ocr(tmp_path: Path) -> None:
    require_ocr()
    path = make_scanned_pdf(tmp_path)  # grey bars where text lines would be: nothing for OCR to read
    check_file(path, "pdf")
    with pytest.raises(NoExtractableText, match="this scanned PDF, even by OCR") as caught:
        extract(path, "pdf")
    assert caught.value.code == "no_text"


def test_a_scanned_pdf_without_ocr_fails_with_the_reason(tmp_path: Path, settings) -> None:
    settings.OCR_ENABLED = "false"
    with pytest.raises(NoExtractableText, match="scanned PDF, and OCR is off on this server") as caught:
        extract(make_scanned_pdf(tmp_path), "pdf")
    assert caught.value.code == "no_text"


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "empty.pdf", b"")
    with pytest.raises(EmptyFile):
        check_file(path, "pdf")
    with pytest.raises(EmptyFile):
        extract(path, "text")


def test_300_page_pdf(tmp_path: Path) -> None:
    pages = [f"Page {number}.\n\n{REAL_TEXT}" for number in range(1, 301)]
    path = make_pdf(tmp_path, pages, outline=[(f"Part {n}", n * 50 - 49) for n in range(1, 7)])
    check_file(path, "pdf")
    result = extract(path, "pdf")
    assert_well_formed(result)
    assert len(result.pages) == 300
    page_200 = result.pages[199]
    assert result.text[page_200.char_start : page_200.char_end] == pages[199]
    assert heading_at(result, "Page 160.") == ("Part 4",)
