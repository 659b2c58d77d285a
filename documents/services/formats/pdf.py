"""One PDF page (pdfium's text page) into paragraphs, from its lines' text and geometry."""

from __future__ import annotations

import itertools
import re
import statistics
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pypdfium2

_LINE = re.compile(r"[^\r\n]+")
_CLOSERS = "\"'\u201d\u2019)]"
_HYPHENS = ("-", "\u00ad", "\u2010")


class _PdfLine(NamedTuple):
    text: str
    blank_before: bool  # an empty line precedes it in pdfium's text
    left: float  # PDF points; y grows upwards
    bottom: float
    right: float
    top: float


def pdf_page_paragraphs(textpage: pypdfium2.PdfTextPage) -> list[str]:
    """The paragraphs of one PDF page, in pdfium's reading order.

    pdfium gives one line per visual line. Lines are joined with a space inside a paragraph; a paragraph
    ends at an empty line, a vertical gap clearly larger than the page's usual line pitch, a line going
    back up the page, or a short line ending a sentence. Words hyphenated across lines are rejoined when the
    next line starts in lowercase ("exam-" + "ple" -> "example"). When pdfium's text does not map 1:1 onto
    its characters (no geometry), only empty lines end paragraphs and other line breaks stay as "\\n".
    """
    raw = textpage.get_text_range()
    with_geometry = len(raw) == textpage.count_chars()
    lines = list(_pdf_lines(textpage, raw, with_geometry))
    if not lines:
        return []
    pitches = [a.bottom - b.bottom for a, b in itertools.pairwise(lines) if a.bottom > b.bottom]
    pitch = statistics.median(pitches) if pitches else 0.0
    left, right = min(line.left for line in lines), max(line.right for line in lines)
    paragraphs, current = [], lines[0].text
    for previous, line in itertools.pairwise(lines):
        if line.blank_before or (with_geometry and _ends_paragraph(previous, line, pitch, right - left, right)):
            paragraphs.append(current)
            current = line.text
        else:
            current = join_lines(current, line.text, " " if with_geometry else "\n")
    paragraphs.append(current)
    return [_dehyphenate(paragraph) for paragraph in paragraphs]


def _pdf_lines(textpage: pypdfium2.PdfTextPage, raw: str, with_geometry: bool) -> Iterable[_PdfLine]:
    blank_before, end = False, 0
    for match in _LINE.finditer(raw):
        gap = raw[end : match.start()]
        blank_before = blank_before or gap.count("\n") + gap.count("\r") - gap.count("\r\n") >= 2
        end = match.end()
        text = match.group().strip()
        if not text:
            blank_before = True
            continue
        box = (0.0, 0.0, 0.0, 0.0)
        if with_geometry:
            first = match.start() + len(match.group()) - len(match.group().lstrip())
            last = match.start() + len(match.group().rstrip()) - 1
            left, bottom, _right, top = textpage.get_charbox(first, loose=True)
            right = textpage.get_charbox(last, loose=True)[2]
            box = (left, bottom, right, top)
        yield _PdfLine(text, blank_before, *box)
        blank_before = False


def _ends_paragraph(previous: _PdfLine, line: _PdfLine, pitch: float, width: float, right: float) -> bool:
    gap = previous.bottom - line.bottom
    height = max(previous.top - previous.bottom, line.top - line.bottom, 1.0)
    if gap <= 0 or gap > 1.8 * height or (pitch and gap > 1.4 * pitch):
        return True
    ends_sentence = previous.text.rstrip(_CLOSERS).endswith((".", "!", "?", ":", ";"))
    return ends_sentence and previous.right < right - 0.15 * width


def join_lines(current: str, line: str, separator: str) -> str:
    """``current`` + ``separator`` + ``line``, or without both when a word is hyphenated across them
    ("exam-" + "ple" -> "example"). Also joins the lines OCR reads (``documents.services.ocr``)."""
    if current.endswith(_HYPHENS) and current[-2:-1].isalpha() and line[:1].islower():
        return current[:-1] + line
    return current + separator + line


def _dehyphenate(text: str) -> str:
    """pdfium marks a hyphen it removed at a line end with U+FFFE: drop it before lowercase, else "-"."""
    if "\ufffe" not in text:
        return text
    return re.sub("\ufffe(.?)", lambda m: m.group(1) if m.group(1).islower() else "-" + m.group(1), text)
