"""Word documents (python-docx) into ``Block``s: paragraphs with their heading levels, table rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from docx.table import Table

from documents.services.formats import Block

if TYPE_CHECKING:
    from docx.document import Document as DocxDocument

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
