"""Citation verification and sentence splitting (PostgreSQL's English stemmer does the lexemes)."""

from __future__ import annotations

import pytest

from chat.citations import supporting_span, verify_citations
from chat.text import split_sentences

pytestmark = pytest.mark.django_db

CHUNK = (
    "Yeast ferments the sugars in dough and releases carbon dioxide. The gas makes bread rise before baking. "
    "A sourdough starter is a culture of wild yeast and lactobacilli."
)


@pytest.mark.parametrize(
    "text,sentences",
    [
        ("The gas makes bread rise. [1]", ["The gas makes bread rise. [1]"]),
        ("First one. [1] Second one [2]. Third [x] one.", ["First one. [1]", "Second one [2].", "Third [x] one."]),
        ("A list:\n- yeast [1]\n- gas [2]", ["A list:", "- yeast [1]", "- gas [2]"]),
        ("e.g. lower case does not split. Ok.", ["e.g. lower case does not split.", "Ok."]),
    ],
)
def test_split_sentences_keeps_markers_with_their_sentence(text, sentences):
    assert [text[a:b] for a, b in split_sentences(text)] == sentences


@pytest.mark.parametrize("style", ["{s}. [{n}]", "{s} [{n}].", "{s}.[{n}]"])
def test_a_marker_is_checked_against_the_sentence_it_ends_whatever_the_style(style):
    supported = style.format(s="The gas makes bread rise before baking", n=1)
    invented = style.format(s="Penguins secretly run the central bank of Mars", n=1)
    verified = verify_citations(f"{supported} {invented}", source_texts={1: CHUNK}, config="english")
    assert verified.support == {1: 1.0}
    assert verified.issues == [{"marker": 1, "reason": "not supported by the source", "support": 0.0}]
    assert "[1]" in verified.answer.split("Penguins")[0] and "[1]" not in verified.answer.split("Penguins")[1]


def test_unknown_markers_are_dropped():
    verified = verify_citations("The gas makes bread rise. [4]", source_texts={1: CHUNK}, config="english")
    assert verified.support == {} and verified.issues == [{"marker": 4, "reason": "no such source"}]
    assert "[4]" not in verified.answer


def test_supporting_span_points_at_the_sentence_of_the_claim():
    start, end = supporting_span(["Bread rises because of the gas."], CHUNK, config="english")
    assert CHUNK[start:end] == "The gas makes bread rise before baking."
    assert supporting_span(["Nothing in common here."], CHUNK, config="english") == (0, len(CHUNK))
