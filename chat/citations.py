"""Citation markers in answers: parse ``[n]`` / ``[n, m]``, and verify them on the server.

A marker is valid only if it names a source that was given; a valid marker is kept only if the sentence it
ends is supported by that source: at least ``CHAT_MIN_CITATION_SUPPORT`` of the sentence's lexemes (stemmed,
stop words removed) occur in the cited chunk. Invalid and unsupported markers are removed from the answer
and reported, so the page never shows them as citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from chat.text import lexeme_sets, split_sentences

MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


@dataclass(frozen=True)
class VerifiedCitations:
    """The answer without bad markers, the kept markers with their best support (0–1), the issues, and the
    answer sentences (markers removed) each kept marker cites."""

    answer: str
    support: dict[int, float]
    issues: list[dict[str, object]]
    claims: dict[int, list[str]]


def markers_in(text: str) -> list[int]:
    """Every marker number in ``text``, in order, with repeats."""
    return [int(n) for match in MARKER.finditer(text) for n in match.group(1).split(",")]


def verify_citations(answer: str, *, source_texts: dict[int, str], config: str) -> VerifiedCitations:
    """Check every marker of ``answer`` against ``source_texts`` (marker → chunk text). Sentences without a
    marker are left as they are. Returns the cleaned answer, ``{marker: support}`` and the dropped markers
    ``[{"marker", "reason", "support"?}]``."""
    spans = split_sentences(answer)
    sentences = [answer[a:b] for a, b in spans]
    markers = list(source_texts)
    lexemes = lexeme_sets([MARKER.sub(" ", s) for s in sentences] + [source_texts[m] for m in markers], config=config)
    sentence_lexemes, source_lexemes = (
        lexemes[: len(sentences)],
        dict(zip(markers, lexemes[len(sentences) :], strict=True)),
    )
    minimum = settings.CHAT_MIN_CITATION_SUPPORT
    support: dict[int, float] = {}
    issues: list[dict[str, object]] = []
    claims: dict[int, list[str]] = {}
    cleaned: list[str] = []
    for sentence, words in zip(sentences, sentence_lexemes, strict=True):

        def keep(match: re.Match[str]) -> str:
            kept = []
            for number in (int(n) for n in match.group(1).split(",")):
                if number not in source_lexemes:
                    issues.append({"marker": number, "reason": "no such source"})
                    continue
                score = len(words & source_lexemes[number]) / len(words) if words else 1.0
                if score < minimum:
                    issues.append(
                        {"marker": number, "reason": "not supported by the source", "support": round(score, 3)}
                    )
                    continue
                support[number] = max(support.get(number, 0.0), score)
                claims.setdefault(number, []).append(MARKER.sub(" ", sentence).strip())
                kept.append(str(number))
            return f"[{', '.join(kept)}]" if kept else ""

        cleaned.append(re.sub(r"\s+([.!?,;:])", r"\1", MARKER.sub(keep, sentence)).rstrip())
    # keep the original whitespace between sentences
    out, last = [], 0
    for (a, b), text in zip(spans, cleaned, strict=True):
        out.append(answer[last:a] + text)
        last = b
    out.append(answer[last:])
    return VerifiedCitations("".join(out).strip(), support, issues, claims)


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
