"""Web pages into ``Block``s: the main content through trafilatura's Markdown output, tidied (table rules and
bold markers dropped), with a linear lxml fallback for pages trafilatura finds nothing in or that are too large."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import lxml.etree
import lxml.html
import trafilatura
import trafilatura.metadata
import trafilatura.utils
from django.conf import settings

from documents.services.extract_errors import ExtractionError
from documents.services.formats import Block
from documents.services.formats.markdown import markdown_blocks

_NON_TEXT_TAGS = ("script", "style", "nav", "form", "noscript", "template", "svg")
_DROPPED_TAGS = (*_NON_TEXT_TAGS, "header", "footer", "aside")  # a web page's furniture
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


def html_title(html: str) -> str:
    """The page's title: trafilatura's choice (a lone ``<h1>``, ``og:title`` and the like, else ``<title>`` without
    a site name after "|" or "-"), or the plain ``<title>`` text for a page too large for it (the bounds of
    ``html_blocks``); "" when it has none."""
    tree = trafilatura.utils.load_html(html)
    if tree is None:
        return ""
    if _too_complex(tree, settings.EXTRACT_HTML_MAX_TAGS, settings.EXTRACT_HTML_MAX_DEPTH):
        element = tree.find(".//title")
        return element.text_content() if element is not None else ""
    return trafilatura.metadata.extract_title(tree) or ""


def html_plain_blocks(html: str) -> list[Block]:
    """The text of a page's headings, paragraphs, list items and table rows in document order, without
    trafilatura's main-content detection and keeping ``header``, ``footer`` and ``aside`` elements (for pages
    that are all content: an e-book's chapters put their titles in ``<header>``). Linear."""
    return list(_lxml_blocks(html, _NON_TEXT_TAGS))


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


def _lxml_blocks(html: str, dropped: tuple[str, ...] = _DROPPED_TAGS) -> Iterator[Block]:
    """Raises ``ExtractionError`` for a page past libxml2's resource limits (nested more than 256 deep): the
    parser drops what is past them, and everything after, without failing."""
    parser = lxml.html.HTMLParser(encoding="utf-8")
    try:
        root = lxml.html.document_fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise ExtractionError(
            "This file's HTML is nested more than 256 elements deep, too deep to read all of its text; save it"
            " again (for example printed to PDF) and upload that."
        )
    for element in list(root.iter(*dropped)):
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
