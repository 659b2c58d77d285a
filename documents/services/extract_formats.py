"""Format knowledge behind ``documents.services.extract``: readers that turn each format (Markdown, HTML,
DOCX, CSV, PDF pages) into ``Block``s.

A ``Block`` is a paragraph (``level=None``) or a heading (``level`` 0 for a document title, 1..6 for
heading levels). The readers know nothing about offsets or domain errors: ``extract.py`` assembles the
blocks into ``ExtractedText`` and turns library exceptions into ``ExtractionError``s.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import re
import statistics
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import lxml.etree
import lxml.html
import trafilatura
import trafilatura.utils
from django.conf import settings
from docx.table import Table

if TYPE_CHECKING:
    import pypdfium2
    from docx.document import Document as DocxDocument


class Block(NamedTuple):
    text: str
    level: int | None = None  # None: a paragraph; 0: document title; 1..9: heading level


# --- Markdown -------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_SETEXT_TEXT = re.compile(r"^ {0,3}(?:[-*+>|]|\d{1,9}[.)])(?:[ \t]|$)")  # list items, quotes, table rows


def atx_heading(line: str) -> tuple[int, str] | None:
    """``(level, text)`` when ``line`` is an ATX heading (up to 3 spaces, 1-6 "#", then a space or tab or
    the end; an optional closing run of "#" after a space is dropped), else None; ``text`` may be "".

    Linear in the line (it replaces a backtracking regex that took minutes on a long line of spaces) and
    the same result as ``^ {0,3}(#{1,6})(?:[ \\t]+(.*?))?(?:[ \\t]+#+)?[ \\t]*$``.
    """
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3 or line[indent : indent + 1] != "#":
        return None
    rest = line[indent:].lstrip("#")
    level = len(line) - indent - len(rest)
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    unclosed = text.rstrip("#")
    if unclosed != text and unclosed[-1:] in (" ", "\t"):  # a closing run of "#" after a space or tab
        text = unclosed.rstrip(" \t")
    return level, text


def markdown_blocks(text: str) -> Iterator[Block]:
    """Split Markdown into blocks: ATX (``# x``) and setext (``x`` over ``===``/``---``) headings outside
    fenced code (``` or ~~~) become heading blocks with their markers removed; everything else is kept
    as-is, one block per run of non-blank lines (a fenced code block is its own block).

    Linear in the text. A line longer than ``settings.EXTRACT_MAX_LINE_CHARS`` is always text: it never
    opens or closes a fence, nor is it or underlines it a heading.
    """
    max_line = settings.EXTRACT_MAX_LINE_CHARS
    lines: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        if len(line) > max_line:
            lines.append(line)
            continue
        if fence is not None:
            lines.append(line)
            closing = line.strip()
            if closing.startswith(fence) and closing == closing[0] * len(closing):
                fence = None
                yield Block("\n".join(lines))
                lines = []
            continue
        if fence_match := _FENCE.match(line):
            if lines:
                yield Block("\n".join(lines))
            fence, lines = fence_match.group(1), [line]
            continue
        if not line.strip():
            if lines:
                yield Block("\n".join(lines))
            lines = []
        elif heading := atx_heading(line):
            if lines:
                yield Block("\n".join(lines))
            lines = []
            if heading[1]:
                yield Block(heading[1], heading[0])
        elif (underline := _SETEXT.match(line)) and lines and not _NOT_SETEXT_TEXT.match(lines[0]):
            yield Block(" ".join(lines), 1 if underline.group(1).startswith("=") else 2)
            lines = []
        else:
            lines.append(line)
    if lines:
        yield Block("\n".join(lines))


# --- HTML -----------------------------------------------------------------------------------------------

_DROPPED_TAGS = ("script", "style", "nav", "header", "footer", "aside", "form", "noscript", "template", "svg")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_TEXT_TAGS = {*_HEADING_TAGS, "p", "li", "tr", "pre", "blockquote", "dt", "dd", "figcaption", "caption"}


def html_blocks(html: str) -> list[Block]:
    """The main content of a web page (no navigation, header, footer or cookie banners) as blocks.

    Uses trafilatura's Markdown output (headings become heading blocks, tables "a | b" rows, bold markers
    dropped); if trafilatura finds nothing, or the page has more than ``settings.EXTRACT_HTML_MAX_TAGS``
    elements or is nested deeper than ``settings.EXTRACT_HTML_MAX_DEPTH`` (trafilatura's time grows with
    both), falls back to the text of headings, paragraphs, list items and table rows outside
    script/style/nav/header/footer/aside/form elements (linear).
    """
    tree = trafilatura.utils.load_html(html)
    if tree is None or _too_complex(tree, settings.EXTRACT_HTML_MAX_TAGS, settings.EXTRACT_HTML_MAX_DEPTH):
        return list(_lxml_blocks(html))
    markdown = trafilatura.extract(
        tree,
        output_format="markdown",
        include_tables=True,
        include_links=False,
        include_images=False,
        favor_recall=True,
        with_metadata=False,
    )
    if markdown and markdown.strip():
        return [_tidy_markdown(block) for block in markdown_blocks(markdown)]
    return list(_lxml_blocks(html))


def _too_complex(root: lxml.html.HtmlElement, max_elements: int, max_depth: int) -> bool:
    """More than ``max_elements`` elements or deeper than ``max_depth``; stops as soon as either is passed."""
    stack, count = [(root, 0)], 0
    while stack:
        element, depth = stack.pop()
        count += 1
        if count > max_elements or depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _tidy_markdown(block: Block) -> Block:
    if block.level is not None:
        return block
    max_line = settings.EXTRACT_MAX_LINE_CHARS
    lines = []
    for line in block.text.split("\n"):
        if len(line) > max_line:
            lines.append(line)
            continue
        if is_table_rule(line):
            continue
        if line.lstrip().startswith("|"):
            line = " | ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        lines.append(unbold(line))
    return Block("\n".join(lines))


def is_table_rule(line: str) -> bool:
    """A Markdown table's header rule (``|---|:--:|``, ``--- | ---``): cells of ``:?-{3,}:?`` separated by
    "|", optional outer pipes, any whitespace around them. Linear; the same answer as the regex
    ``^\\s*\\|?\\s*:?-{3,}:?\\s*(?:\\|\\s*:?-{3,}:?\\s*)*\\|?\\s*$``."""
    body = line.strip()
    body = body.removeprefix("|")
    body = body.removesuffix("|") if body.endswith("|") else body
    for cell in body.split("|"):
        dashes = cell.strip()
        dashes = dashes.removeprefix(":").removesuffix(":")
        if len(dashes) < 3 or dashes.strip("-"):
            return False
    return True


def unbold(line: str) -> str:
    """Drop Markdown bold markers: ``**x**`` becomes ``x`` when x starts and ends with a non-space.

    Linear (a lazy regex, ``\\*\\*(\\S(?:.*?\\S)?)\\*\\*``, was quadratic in the number of unclosed
    "**"), with that regex's matches: from left to right, each opening "**" pairs with the first closing
    "**" (preceded by a non-space) that leaves at least two characters between them, else one.
    """
    if "**" not in line:
        return line
    closers = [j for j in range(1, len(line) - 1) if line[j] == "*" == line[j + 1] and not line[j - 1].isspace()]
    out, i, done = [], 0, 0
    while (i := line.find("**", i)) >= 0:
        if i + 2 >= len(line) or line[i + 2].isspace():
            i += 1
            continue
        k = bisect.bisect_left(closers, i + 4)
        if k < len(closers):
            end = closers[k]
        elif closers and closers[-1] == i + 3:
            end = i + 3
        else:
            break  # no closer after i: none after any later opening either
        out.append(line[done:i])
        out.append(line[i + 2 : end])
        done = i = end + 2
    out.append(line[done:])
    return "".join(out)


def _lxml_blocks(html: str) -> Iterator[Block]:
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return
    for element in list(root.iter(*_DROPPED_TAGS)):
        element.drop_tree()
    for element in _outermost(root, _TEXT_TAGS):
        if element.tag == "tr":
            cells = (" ".join(cell.text_content().split()) for cell in element.iter("td", "th"))
            yield Block(" | ".join(cell for cell in cells if cell))
        elif element.tag == "pre":
            yield Block(element.text_content())
        else:
            level = int(element.tag[1]) if element.tag in _HEADING_TAGS else None
            yield Block(" ".join(element.text_content().split()), level)


def _outermost(root: lxml.html.HtmlElement, tags: set[str]) -> Iterator[lxml.html.HtmlElement]:
    """The elements named ``tags`` that have no ancestor named ``tags`` (an enclosing block holds their
    text already), in document order. Linear: a depth-first walk that does not descend into them."""
    stack = [root]
    while stack:
        element = stack.pop()
        if element.tag in tags:
            yield element
        else:
            stack.extend(reversed(element))


# --- DOCX -----------------------------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def docx_blocks(document: DocxDocument) -> Iterator[Block]:
    """Paragraphs and tables in document order; "Title" is level 0, "Heading N" level N; each table row is
    one paragraph with its cells joined by " | " (merged cells once)."""
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells, seen = [], set()
                for cell in row.cells:
                    if id(cell._tc) not in seen and (value := " ".join(cell.text.split())):
                        cells.append(value)
                    seen.add(id(cell._tc))
                yield Block(" | ".join(cells))
        else:
            yield Block(item.text, _docx_heading_level(item.style.name if item.style is not None else ""))


def _docx_heading_level(style_name: str | None) -> int | None:
    if style_name == "Title":
        return 0
    match = _HEADING_STYLE.match(style_name or "")
    return int(match.group(1)) if match else None


# --- CSV ------------------------------------------------------------------------------------------------


def csv_paragraphs(text: str) -> Iterator[str]:
    """One "column: value; column: value" paragraph per data row (empty values skipped, blank rows dropped).

    The dialect comes from ``csv.Sniffer`` on the first ``settings.EXTRACT_CSV_SNIFF_BYTES`` characters (whole
    lines; the sniffer is quadratic in its sample, so the sample stays small and is sniffed once), fallback:
    tab if the first line has more tabs than commas, else comma. The first row is the header when the
    sniffer says so or none of its cells is empty or numeric; otherwise columns are named "Column 1",
    "Column 2", ... Raises ``csv.Error``.
    """
    sample = text[: settings.EXTRACT_CSV_SNIFF_BYTES]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    sniffed = _csv_sniff(sample)
    dialect = sniffed or _csv_fallback_dialect(sample)
    rows: Iterator[list[str]] = csv.reader(io.StringIO(text), dialect)
    first = next(rows, None)
    if first is None:
        return
    header: list[str] = []
    if _has_header(sample, first, sniffed):
        header = [" ".join(cell.split()) for cell in first]
    else:
        rows = itertools.chain([first], rows)
    for row in rows:
        parts = []
        for index, value in enumerate(row):
            if value := " ".join(value.split()):
                name = header[index] if index < len(header) and header[index] else f"Column {index + 1}"
                parts.append(f"{name}: {value}")
        if parts:
            yield "; ".join(parts)


class _SniffedOnce(csv.Sniffer):
    """A sniffer whose ``has_header`` reuses an already sniffed dialect instead of sniffing again."""

    def __init__(self, dialect: type[csv.Dialect]) -> None:
        super().__init__()
        self.dialect = dialect

    def sniff(self, sample: str, delimiters: str | None = None) -> type[csv.Dialect]:
        return self.dialect


def _csv_sniff(sample: str) -> type[csv.Dialect] | None:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return None


def _csv_fallback_dialect(sample: str) -> type[csv.Dialect]:
    first_line = sample.split("\n", 1)[0]
    return csv.excel_tab if first_line.count("\t") > first_line.count(",") else csv.excel


def _has_header(sample: str, first: list[str], sniffed: type[csv.Dialect] | None) -> bool:
    try:
        if sniffed is not None and _SniffedOnce(sniffed).has_header(sample):
            return True
    except csv.Error:
        pass
    return bool(first) and all(cell.strip() and not _is_number(cell) for cell in first)


def _is_number(value: str) -> bool:
    try:
        float(value.replace(",", ""))
    except ValueError:
        return False
    return True


# --- PDF ------------------------------------------------------------------------------------------------

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
            current = _join_lines(current, line.text, " " if with_geometry else "\n")
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


def _join_lines(current: str, line: str, separator: str) -> str:
    if current.endswith(_HYPHENS) and current[-2:-1].isalpha() and line[:1].islower():
        return current[:-1] + line
    return current + separator + line


def _dehyphenate(text: str) -> str:
    """pdfium marks a hyphen it removed at a line end with U+FFFE: drop it before lowercase, else "-"."""
    if "\ufffe" not in text:
        return text
    return re.sub("\ufffe(.?)", lambda m: m.group(1) if m.group(1).islower() else "-" + m.group(1), text)
