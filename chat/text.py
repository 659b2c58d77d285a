"""Text helpers for answering: sentence splitting and lexeme sets (PostgreSQL's stemmer and stop words, the
same normalization BM25 uses, so "support" and "relevance" mean the same thing everywhere)."""

from __future__ import annotations

import re

from django.db import connection

# A citation marker: "[n]" or "[n, m, ...]" (1-3 digits each, spaces allowed around commas). The one definition
# of the pattern: verification, rendering, sentence splitting and evaluation all use it.
MARKER_NUMBERS = r"\d{1,3}(?:\s*,\s*\d{1,3})*"
MARKER = re.compile(rf"\[({MARKER_NUMBERS})\]")

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets and citation markers like "[1]")
# before whitespace and an uppercase letter, a digit or an opening quote/bracket; abbreviations like "e.g."
# followed by lowercase do not split. Markers after the full stop stay with the sentence they cite.
_SENTENCE_END = re.compile(rf"([.!?][\"')\]]*(?:\s*\[{MARKER_NUMBERS}\])*)\s+(?=[A-Z0-9\"'(]|\[(?!{MARKER_NUMBERS}\]))")


def marker_numbers(match: re.Match[str]) -> list[int]:
    """The numbers of one ``MARKER`` match, in order: ``[1, 3]`` → ``[1, 3]``."""
    return [int(n) for n in match.group(1).split(",")]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``[(start, end), ...]`` of the sentences of ``text`` (whitespace trimmed). A line
    break ends a sentence too (list items, paragraphs and table rows are separate claims)."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for match in _SENTENCE_END.finditer(text, line.start(), line.end()):
            spans.append((start, match.end(1)))
            start = match.end()
        spans.append((start, line.end()))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def lexeme_sets(texts: list[str], *, config: str) -> list[set[str]]:
    """The set of lexemes of each text (``to_tsvector(config, text)``), in one round trip."""
    if not texts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i, tsvector_to_array(to_tsvector(%s::regconfig, t))"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS x(t, i) ORDER BY i",
            [config, texts],
        )
        return [set(lexemes) for _, lexemes in cursor.fetchall()]
