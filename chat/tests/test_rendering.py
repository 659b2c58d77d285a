"""Answers as HTML: sanitized Markdown whose verified markers become citation links, in text only."""

from __future__ import annotations

import pytest

from chat.models import Citation
from chat.rendering import render_answer

pytestmark = pytest.mark.django_db


def _citation(pk: int, marker: int) -> Citation:
    return Citation(pk=pk, marker=marker)


def test_markers_in_text_become_links_and_unknown_ones_disappear():
    html = render_answer("Bread rises [1]. Lava flows [1, 2]. Nothing here [7].", [_citation(41, 1), _citation(42, 2)])
    assert html.count('class="cite"') == 3
    assert 'href="/chat/citations/41/"' in html and 'href="/chat/citations/42/"' in html
    assert "[7]" not in html


def test_markers_inside_attributes_links_and_code_stay_text():
    """Issue 13: markers were substituted in the sanitized HTML string, attribute values included, which broke
    out of the attribute (a model could plant markup through a link title)."""
    text = 'See [the source](https://example.com/a "title [1] here") and `code [1]` and\n\n    pre [1]\n\nok [1].'
    html = render_answer(text, [_citation(41, 1)])
    assert 'title="title [1] here"' in html  # the attribute is untouched
    assert "<code>code [1]</code>" in html and "pre [1]" in html
    assert html.count('class="cite"') == 1 and html.rstrip().endswith("[1]</a>.</p>")


def test_html_from_a_model_is_shown_as_text():
    html = render_answer(
        '<script>alert(1)</script> <img src=x onerror=alert(1)> [1] "quoted" & more', [_citation(1, 1)]
    )
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&amp; more" in html and 'class="cite"' in html
