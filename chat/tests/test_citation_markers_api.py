"""Citation markers inside attributes, link text and code, from the outside (issue 13, finding 9): a model's
answer puts ``[1]`` in a link's title, href and text, an image's alt text and code, next to one ``[1]`` in plain
text. Through the chat API (JSON and streamed), the page fragment and the chat page, only the plain-text marker
becomes a citation link; the others stay text and no attribute is broken open.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from chat.tests.factories import ask, sse_events

pytestmark = pytest.mark.django_db

CLAIM = "Yeast ferments the sugars in dough and releases carbon dioxide."  # the first sentence of "Bread"
QUESTION = "What makes bread rise?"


class _Elements(HTMLParser):
    """Every start tag of an HTML text as ``(tag, attributes, open ancestors)``."""

    VOID = frozenset({"br", "hr", "img"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str], tuple[str, ...]]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}, tuple(self.open)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]


def _assert_only_the_plain_text_marker_is_a_citation(html: str) -> None:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    cites = [(attrs, ancestors) for tag, attrs, ancestors in parser.elements if attrs.get("class") == "cite"]
    assert len(cites) == 1, html  # the plain-text [1]; none from the title, href, link text, alt or code
    attrs, ancestors = cites[0]
    assert ancestors == ("p",) and attrs["href"].startswith("/chat/citations/"), html
    titled = [attrs for tag, attrs, _ in parser.elements if tag == "a" and "title" in attrs]
    assert [attrs["title"] for attrs in titled] == [f"{CLAIM} [1]"], html  # the attribute is intact
    assert all("<" not in value for _, attrs, _ in parser.elements for value in attrs.values()), html
    assert f'title="{CLAIM} [1]"' in html and 'href="https://example.com/%5B1%5D"' in html
    assert f'href="https://example.com/b" rel="noopener noreferrer nofollow">{CLAIM} [1]</a>' in html
    assert f"<code>{CLAIM} [1]</code>" in html
    assert "<img" not in html and "c.png" not in html  # images are not allowed: the alt text goes with them


def test_markers_in_attributes_link_text_and_code_stay_text_in_the_json_answer(
    alice, conversation, api_client_for, fake, settings
):
    settings.LLM_PROVIDERS = [fake.provider("attrcite")]
    client = api_client_for(alice)
    body = ask(client, conversation, QUESTION).json()
    assert body["provider"] == "attrcite" and body["citation_issues"] == []  # every marker survived verification
    assert body["answer"].count("[1]") == 6 and [c["marker"] for c in body["citations"]] == [1]
    _assert_only_the_plain_text_marker_is_a_citation(body["html"])
    stored = client.get(f"/api/v1/conversations/{conversation}/").json()
    assert [m["html"] for m in stored["messages"] if m["role"] == "assistant"] == [body["html"]]


def test_markers_in_attributes_stay_text_in_the_stream_its_fragment_and_the_chat_page(
    alice, conversation, api_client_for, client_for, fake, settings
):
    settings.LLM_PROVIDERS = [fake.provider("attrcite")]
    events = sse_events(ask(api_client_for(alice), conversation, QUESTION, stream=True))
    name, done = events[-1]
    assert name == "done" and done["provider"] == "attrcite", events[-1]
    _assert_only_the_plain_text_marker_is_a_citation(done["html"])
    assert done["html"] in done["fragment"]

    page = client_for(alice).get(f"/chat/{conversation}/")
    assert page.status_code == 200
    assert done["html"] in page.content.decode()
