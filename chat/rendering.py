"""Answers as safe HTML: Markdown (CommonMark, raw HTML disabled) sanitized by nh3, markers made links."""

from __future__ import annotations

import functools
from html import escape
from html.parser import HTMLParser

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
    """Sanitized HTML of an answer; each verified ``[n]`` in its text becomes a link that opens the cited passage
    in context (the citation page, in a new tab). Markers are replaced in text nodes only (never inside an
    attribute, a link's text or code). Raw HTML or scripts in the text (from a model or a document) are escaped or
    removed, never executed."""
    html = nh3.clean(
        _markdown().render(text),
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    known = {c.marker: reverse("chat:citation", kwargs={"citation_id": c.pk}) for c in citations}
    linker = _MarkerLinker(known)
    linker.feed(html)
    linker.close()
    return "".join(linker.out)


class _MarkerLinker(HTMLParser):
    """Re-serializes sanitized HTML, turning ``[n]`` markers of text nodes into citation links (unknown markers
    are dropped). Linear in the input: one pass of the standard library's tokenizer."""

    SKIP = frozenset({"a", "code", "pre"})  # no links inside links; code is shown as written

    def __init__(self, known: dict[int, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.known = known
        self.out: list[str] = []
        self.skipping = 0  # depth inside SKIP elements

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rendered = "".join(f' {name}="{escape(value or "")}"' for name, value in attrs)
        self.out.append(f"<{tag}{rendered}>")
        if tag in self.SKIP:
            self.skipping += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rendered = "".join(f' {name}="{escape(value or "")}"' for name, value in attrs)
        self.out.append(f"<{tag}{rendered}>")

    def handle_endtag(self, tag: str) -> None:
        self.out.append(f"</{tag}>")
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if self.skipping:
            self.out.append(escape(data, quote=False))
            return
        last = 0
        for match in MARKER.finditer(data):
            self.out.append(escape(data[last : match.start()], quote=False))
            self.out.extend(self._link(n) for n in marker_numbers(match))
            last = match.end()
        self.out.append(escape(data[last:], quote=False))

    def _link(self, number: int) -> str:
        if number not in self.known:
            return ""
        href = escape(self.known[number])
        return f'<a class="cite" href="{href}" target="_blank" rel="noopener" data-marker="{number}">[{number}]</a>'
