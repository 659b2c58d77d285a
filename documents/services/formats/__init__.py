"""Format knowledge behind ``documents.services.extract``: one reader module per format family, each turning
its format into ``Block``s: ``markdown`` (Markdown and text sniffed as Markdown), ``html`` (web pages, through
trafilatura's Markdown), ``docx`` (Word documents), ``csv`` (tables, one paragraph per row) and ``pdf`` (the
paragraphs of one PDF page).

A ``Block`` is a paragraph (``level=None``) or a heading (``level`` 0 for a document title, 1..6 for
heading levels). The readers know nothing about offsets or domain errors: ``extract.py`` assembles the
blocks into ``ExtractedText`` and turns library exceptions into ``ExtractionError``s. Every reader is linear
in its input (``documents/tests/test_hostile.py``).
"""

from __future__ import annotations

from typing import NamedTuple


class Block(NamedTuple):
    text: str
    level: int | None = None  # None: a paragraph; 0: document title; 1..9: heading level
