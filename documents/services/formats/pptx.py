"""PowerPoint presentations (python-pptx) into slides of ``Block``s: the title, every text frame (inside
groups too), tables row by row and the speaker notes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pptx.shapes.group import GroupShape

from documents.services.formats import Block

if TYPE_CHECKING:
    from pptx.presentation import Presentation
    from pptx.shapes.base import BaseShape
    from pptx.slide import Slide

NOTES_PREFIX = "Speaker notes: "


def pptx_slides(presentation: Presentation) -> Iterator[list[Block]]:
    """One list of blocks per slide, in the presentation's order: the title placeholder's text as a heading
    (level 1), then each shape's text frame as one paragraph (its lines kept as lines) and each table row as
    "cell | cell" (merged cells once), in the slide's shape order (groups in place), then the speaker notes
    as one paragraph starting "Speaker notes: ". A slide without text gives []."""
    for slide in presentation.slides:
        yield slide_blocks(slide)


def pptx_title(presentation: Presentation) -> str:
    """The presentation's title from its core properties, "" when it has none."""
    return " ".join((presentation.core_properties.title or "").split())


def slide_blocks(slide: Slide) -> list[Block]:
    """The blocks of one slide (see ``pptx_slides``)."""
    title = slide.shapes.title
    blocks = []
    if title is not None and (text := " ".join(title.text_frame.text.split())):
        blocks.append(Block(text, 1))
    for shape in _shapes(slide):
        if title is not None and shape.shape_id == title.shape_id:
            continue
        if shape.has_text_frame and (text := shape.text_frame.text.strip()):  # type: ignore[attr-defined]
            blocks.append(Block(text))
        elif shape.has_table:
            blocks.extend(_table_rows(shape))
    frame = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
    if frame is not None and (notes := frame.text.strip()):
        blocks.append(Block(NOTES_PREFIX + notes))
    return blocks


def _shapes(slide: Slide) -> Iterator[BaseShape]:
    """The slide's shapes in order, with each group's shapes in its place (depth-first, no recursion)."""
    stack: list[Iterator[BaseShape]] = [iter(slide.shapes)]
    while stack:
        shape = next(stack[-1], None)
        if shape is None:
            stack.pop()
        elif isinstance(shape, GroupShape):
            stack.append(iter(shape.shapes))
        else:
            yield shape


def _table_rows(shape: BaseShape) -> Iterator[Block]:
    for row in shape.table.rows:  # type: ignore[attr-defined]
        cells = [text for cell in row.cells if not cell.is_spanned and (text := " ".join(cell.text.split()))]
        if cells:
            yield Block(" | ".join(cells))
