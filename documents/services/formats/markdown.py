"""Markdown into ``Block``s: ATX and setext headings outside fenced code, paragraphs as runs of lines."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.conf import settings

from documents.services.formats import Block

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


def markdown_title(text: str) -> str:
    """The document's title: its first heading when that is a level-1 heading (``# Title`` or ``Title`` over
    ``===``), else "". Stops at the first heading."""
    for block in markdown_blocks(text):
        if block.level is not None:
            return block.text if block.level == 1 else ""
    return ""
