"""Answers as safe HTML: Markdown (CommonMark, raw HTML disabled) sanitized by nh3, markers made links."""

from __future__ import annotations

import functools
import re

import nh3
from django.urls import reverse
from markdown_it import MarkdownIt

from chat.models import Citation
from chat.text import MARKER, marker_numbers

ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h3",
    "h4",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "a",
    "sup",
    "hr",
}


@functools.cache
def _markdown() -> MarkdownIt:

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_answer(text: str, citations: list[Citation]) -> str:
    """Sanitized HTML of an answer; each verified ``[n]`` becomes a link that opens the cited passage in
    context (the citation page, in a new tab).
    Raw HTML or scripts in the text (from a model or a document) are escaped or removed, never executed."""
    html = nh3.clean(
        _markdown().render(text),
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    known = {c.marker: reverse("chat:citation", kwargs={"citation_id": c.pk}) for c in citations}

    def link(match: re.Match[str]) -> str:
        return "".join(
            f'<a class="cite" href="{known[n]}" target="_blank" rel="noopener" data-marker="{n}">[{n}]</a>'
            if n in known
            else ""
            for n in marker_numbers(match)
        )

    return MARKER.sub(link, html)
