"""OpenDocument files (odfpy) into ``Block``s: text documents (ODT) with their headings' outline levels,
presentations (ODP) slide by slide, spreadsheets (ODS) sheet by sheet as rows of cell texts.

Text is read as ``odf.teletype.extractText`` reads it (``<text:s>``, ``<text:tab>``, ``<text:line-break>``
unwrapped), by ``element_text``: iterative, so deep nesting cannot exhaust the stack, and with a run of spaces
(``<text:s text:c="...">``) bounded, where ``extractText`` would build a string as long as the file claims.
Repeated rows and cells (``number-rows-repeated``, ``number-columns-repeated``: how ODS stores a million
empty rows in one element) are never expanded when empty, and lazily when not. odfpy parses through
defusedxml (no entity declarations).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from odf.namespaces import DRAWNS, OFFICENS, PRESENTATIONNS, TABLENS, TEXTNS

from documents.services.formats import Block
from documents.services.formats.csv import Cells
from documents.services.formats.xlsx import MAX_COLUMNS, NO_SAVED_VALUE

MAX_SPACES = 100  # a <text:s text:c="n"/> gives at most this many spaces
_TEXT_NODES = (3, 4)  # text and CDATA: the nodes without a qname
_HEADING, _PARAGRAPH = (TEXTNS, "h"), (TEXTNS, "p")
_TABLE, _ROW, _CELL = (TABLENS, "table"), (TABLENS, "table-row"), (TABLENS, "table-cell")
_COVERED_CELL = (TABLENS, "covered-table-cell")
_PAGE, _NOTES, _FRAME = (DRAWNS, "page"), (PRESENTATIONNS, "notes"), (DRAWNS, "frame")
_SKIPPED = {(OFFICENS, "annotation"), (TEXTNS, "tracked-changes"), (OFFICENS, "forms")}


def odf_body(document: Any, part: str) -> Any | None:
    """The ``office:text``, ``office:spreadsheet`` or ``office:presentation`` element (``part``) of a loaded
    document, or None when it has none."""
    return next((child for child in document.body.childNodes if _name(child) == (OFFICENS, part)), None)


def odf_title(document: Any) -> str:
    """The document's title (``dc:title`` in its meta.xml), "" when it has none."""
    for child in document.meta.childNodes:
        if _name(child) == ("http://purl.org/dc/elements/1.1/", "title"):
            return " ".join(element_text(child).split())
    return ""


def odt_blocks(body: Any) -> Iterator[Block]:
    """The blocks of a text document's body in order: ``text:h`` as headings of their outline level (1 when
    absent), ``text:p`` as paragraphs (inside lists, sections and frames too), table rows as "cell | cell"."""
    stack: list[Iterator[Any]] = [iter(body.childNodes)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
        elif _name(element) == _HEADING:
            yield Block(element_text(element), _outline_level(element))
        elif _name(element) == _PARAGRAPH:
            yield Block(element_text(element))
        elif _name(element) == _TABLE:
            yield from _table_blocks(element)
        elif _name(element) is not None and _name(element) not in _SKIPPED:
            stack.append(iter(element.childNodes))


def odp_slides(body: Any) -> Iterator[list[Block]]:
    """One list of blocks per slide (``draw:page``): the title frame's text as a heading (level 1), the other
    frames' paragraphs and table rows, then the speaker notes as one paragraph "Speaker notes: ..."."""
    for page in body.childNodes:
        if _name(page) != _PAGE:
            continue
        blocks: list[Block] = []
        notes: list[str] = []
        for child in page.childNodes:
            if _name(child) == _NOTES:
                notes = [block.text for block in odt_blocks(child) if block.text.strip()]
            elif _name(child) == _FRAME and child.attributes.get((PRESENTATIONNS, "class")) == "title":
                blocks.insert(0, Block(" ".join(element_text(child).split()), 1))
            elif _name(child) is not None:
                blocks.extend(odt_blocks(child))
        if notes:
            blocks.append(Block("Speaker notes: " + "\n".join(notes)))
        yield blocks


def odp_slide_count(body: Any) -> int:
    return sum(1 for page in body.childNodes if _name(page) == _PAGE)


def ods_sheets(body: Any) -> Iterator[tuple[str, Iterator[Cells]]]:
    """``(sheet name, rows)`` per ``table:table`` of a spreadsheet: rows as in ``formats.xlsx.xlsx_sheets``
    ((0-based column, text) per cell, "" when empty); an empty row stands once for all its repetitions."""
    for table in body.childNodes:
        if _name(table) == _TABLE:
            yield str(table.attributes.get((TABLENS, "name")) or ""), _sheet_rows(table)


def _sheet_rows(table: Any) -> Iterator[Cells]:
    for row in _row_elements(table):
        cells = _row_cells(row)
        repeat = _repeat(row, "number-rows-repeated") if any(text for _, text in cells) else 1
        for _ in range(repeat):
            yield cells


def _row_elements(table: Any) -> Iterator[Any]:
    """The ``table:table-row`` elements of a table, also those inside header-row and row-group elements."""
    stack: list[Iterator[Any]] = [iter(table.childNodes)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
        elif _name(element) == _ROW:
            yield element
        elif (name := _name(element)) is not None and name[0] == TABLENS and name != _TABLE:
            stack.append(iter(element.childNodes))


def _row_cells(row: Any) -> list[tuple[int, str]]:
    cells: list[tuple[int, str]] = []
    column = 0
    for cell in row.childNodes:
        if _name(cell) not in (_CELL, _COVERED_CELL) or column >= MAX_COLUMNS:
            continue
        repeat = min(_repeat(cell, "number-columns-repeated"), MAX_COLUMNS - column)
        text = "\n".join(element_text(p) for p in cell.childNodes if _name(p) == _PARAGRAPH)
        if not text.strip() and cell.attributes.get((TABLENS, "formula")):
            text = NO_SAVED_VALUE
        if text.strip():
            cells.extend((column + offset, text) for offset in range(repeat))
        else:
            cells.append((column, ""))
        column += repeat
    return cells


def _table_blocks(table: Any) -> Iterator[Block]:
    for row in _row_elements(table):
        cells = [" ".join(text.split()) for _, text in _row_cells(row)]
        if line := " | ".join(cell for cell in cells if cell):
            yield Block(line)


def element_text(element: Any) -> str:
    """The text of an element as ``odf.teletype.extractText`` gives it, iteratively and with ``<text:s>``
    runs bounded by ``MAX_SPACES`` (see the module docstring)."""
    parts: list[str] = []
    stack: list[Iterator[Any]] = [iter(element.childNodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
        elif node.nodeType in _TEXT_NODES:
            parts.append(str(node.data))
        elif _name(node) == (TEXTNS, "line-break"):
            parts.append("\n")
        elif _name(node) == (TEXTNS, "tab"):
            parts.append("\t")
        elif _name(node) == (TEXTNS, "s"):
            parts.append(" " * min(_repeat(node, "c", TEXTNS), MAX_SPACES))
        elif _name(node) is not None and _name(node) not in _SKIPPED:
            stack.append(iter(node.childNodes))
    return "".join(parts)


def _name(node: Any) -> tuple[str, str] | None:
    """An element's (namespace, local name); None for text nodes."""
    return getattr(node, "qname", None)


def _outline_level(heading: Any) -> int:
    level = _repeat(heading, "outline-level", TEXTNS)
    return min(level, 9)


def _repeat(element: Any, name: str, namespace: str = TABLENS) -> int:
    """A positive count attribute (``number-rows-repeated``, ``text:c``, ...): 1 when absent or not a number."""
    try:
        return max(1, int(element.attributes.get((namespace, name)) or 1))
    except (TypeError, ValueError):
        return 1
