"""Citation markers in answers: parse ``[n]`` / ``[n, m]``, and verify them on the server.

A marker is valid only if it names a source that was given; a valid marker is kept only if the sentence it
ends is supported by that source: at least ``CHAT_MIN_CITATION_SUPPORT`` of the sentence's lexemes (stemmed,
stop words removed) occur in the cited chunk. Invalid and unsupported markers are removed from the answer
and reported, so the page never shows them as citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings

from chat.text import MARKER, lexeme_sets, marker_numbers, split_sentences


@dataclass(frozen=True)
class VerifiedCitations:
    """The answer without bad markers, the kept markers with their best support (0–1), the issues, and the
    answer sentences (markers removed) each kept marker cites."""

    answer: str
    support: dict[int, float] = field(default_factory=dict)
    issues: list[dict[str, object]] = field(default_factory=list)
    claims: dict[int, list[str]] = field(default_factory=dict)


def verify_citations(answer: str, *, source_texts: dict[int, str], config: str) -> VerifiedCitations:
    """Check every marker of ``answer`` against ``source_texts`` (marker → chunk text). Sentences without a
    marker are left as they are. Returns the cleaned answer, ``{marker: support}`` and the dropped markers
    ``[{"marker", "reason", "support"?}]``."""
    spans = split_sentences(answer)
    sentences = [answer[a:b] for a, b in spans]
    markers = list(source_texts)
    lexemes = lexeme_sets([MARKER.sub(" ", s) for s in sentences] + [source_texts[m] for m in markers], config=config)
    source_lexemes = dict(zip(markers, lexemes[len(sentences) :], strict=True))
    result = VerifiedCitations(answer="")
    cleaned = [
        _verify_sentence(sentence, words, source_lexemes, result)
        for sentence, words in zip(sentences, lexemes[: len(sentences)], strict=True)
    ]
    # keep the original whitespace between sentences
    out, last = [], 0
    for (a, b), text in zip(spans, cleaned, strict=True):
        out.append(answer[last:a] + text)
        last = b
    out.append(answer[last:])
    return VerifiedCitations("".join(out).strip(), result.support, result.issues, result.claims)


def _verify_sentence(
    sentence: str, words: set[str], source_lexemes: dict[int, set[str]], result: VerifiedCitations
) -> str:
    """``sentence`` with only its supported markers; the kept and dropped ones are recorded in ``result``."""
    minimum = settings.CHAT_MIN_CITATION_SUPPORT
    claim = MARKER.sub(" ", sentence).strip()

    def keep(match: re.Match[str]) -> str:
        kept = []
        for number in marker_numbers(match):
            if number not in source_lexemes:
                result.issues.append({"marker": number, "reason": "no such source"})
                continue
            score = len(words & source_lexemes[number]) / len(words) if words else 1.0
            if score < minimum:
                result.issues.append(
                    {"marker": number, "reason": "not supported by the source", "support": round(score, 3)}
                )
                continue
            result.support[number] = max(result.support.get(number, 0.0), score)
            result.claims.setdefault(number, []).append(claim)
            kept.append(str(number))
        return f"[{', '.join(kept)}]" if kept else ""

    return re.sub(r"\s+([.!?,;:])", r"\1", MARKER.sub(keep, sentence)).rstrip()


def supporting_span(claims: list[str], chunk_text: str, *, config: str) -> tuple[int, int]:
    """The character span ``(start, end)`` in ``chunk_text`` of the sentence that shares the most lexemes
    with the cited ``claims`` (ties: the earliest), so a citation can point at its sentence and page.
    The whole chunk when it has a single sentence or nothing matches."""
    spans = split_sentences(chunk_text)
    if len(spans) <= 1 or not claims:
        return 0, len(chunk_text)
    lexemes = lexeme_sets([" ".join(claims)] + [chunk_text[a:b] for a, b in spans], config=config)
    wanted, candidates = lexemes[0], lexemes[1:]
    best = max(range(len(spans)), key=lambda i: (len(wanted & candidates[i]), -i))
    if not wanted & candidates[best]:
        return 0, len(chunk_text)
    return spans[best]
