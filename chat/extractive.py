"""The offline extractive answerer: the default with no LLM configured, and the last link of every chain.

It answers with the retrieved sentences that best answer the question, each cited to its source. A sentence's
score mixes (a) lexical coverage: the BM25 idf weight of the question's terms it contains over the weight of
all of them (workspace statistics, so rare words count most), and (b) the cosine similarity of its embedding
to the question's (same model as retrieval), plus a small prior for the source's retrieval rank. The best
sentence always goes in; others follow, in score order, while they are nearly as good and the answer stays
within ``CHAT_EXTRACTIVE_MAX_WORDS`` words. Sentences from the best sentence's source are preferred, since an
answer that hops between passages is harder to verify.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from chat.text import lexeme_sets, split_sentences
from documents.embeddings import embed_query, embed_texts
from retrieval.bm25 import term_weights
from retrieval.query import parse_query

LEXICAL_WEIGHT = 0.6
SEMANTIC_WEIGHT = 0.4
RANK_PRIOR = 0.05
SENTENCE_SOURCES = 3  # sentences are drawn from the first sources only
NEARLY_AS_GOOD = 0.85
SAME_SOURCE_BONUS = 0.05


@dataclass(frozen=True)
class ScoredSentence:
    marker: int
    text: str
    score: float


def _score_sentences(question: str, sources: list[tuple[int, str]], *, workspace_id: int,
                     config: str) -> list[ScoredSentence]:  # fmt: skip
    candidates: list[tuple[int, int, str]] = []  # (marker, source rank, text)
    seen: set[str] = set()  # overlapping chunks repeat sentences: keep each once, from its best source
    for rank, (marker, text) in enumerate(sources[:SENTENCE_SOURCES]):
        for a, b in split_sentences(text):
            sentence = text[a:b]
            key = " ".join(sentence.lower().split())
            if len(sentence.split()) >= 3 and key not in seen:
                seen.add(key)
                candidates.append((marker, rank, sentence))
    if not candidates:
        return []
    terms = parse_query(question, config=config).terms
    weights, _ = term_weights(workspace_id=workspace_id, terms=terms)
    total = sum(weights.values())
    lexemes = lexeme_sets([text for _, _, text in candidates], config=config)
    vectors = embed_texts([text for _, _, text in candidates])
    cosines = vectors @ embed_query(question)
    scored = []
    for (marker, rank, text), words, cosine in zip(candidates, lexemes, np.asarray(cosines, dtype=float)):
        lexical = sum(w for t, w in weights.items() if t in words) / total if total else 0.0
        score = LEXICAL_WEIGHT * lexical + SEMANTIC_WEIGHT * float(cosine) + RANK_PRIOR / (rank + 1)
        scored.append(ScoredSentence(marker, text, score))
    return sorted(scored, key=lambda s: -s.score)


def extractive_answer(question: str, sources: list[tuple[int, str]], *, workspace_id: int, config: str) -> str:
    """Compose a short cited answer from ``sources`` (``[(marker, chunk text), ...]``, best first).

    Returns text like ``"First sentence. [1] Second sentence. [1]"`` of at most ``CHAT_EXTRACTIVE_MAX_WORDS``
    words (the best sentence alone may be longer, cut at that many words), or "" when no source has a
    sentence.
    """
    ranked = _score_sentences(question, sources, workspace_id=workspace_id, config=config)
    if not ranked:
        return ""
    limit = settings.CHAT_EXTRACTIVE_MAX_WORDS
    best = ranked[0]
    chosen = [best]
    words = len(best.text.split())
    for sentence in ranked[1:]:
        bonus = SAME_SOURCE_BONUS if sentence.marker == best.marker else 0.0
        if sentence.score + bonus < NEARLY_AS_GOOD * best.score:
            break
        length = len(sentence.text.split())
        if words + length <= limit:
            chosen.append(sentence)
            words += length
    if len(best.text.split()) > limit:
        chosen = [ScoredSentence(best.marker, " ".join(best.text.split()[:limit]) + " …", best.score)]
    # keep the chosen sentences in their reading order within each source
    order = {(s.marker, s.text): i for i, s in enumerate(_reading_order(sources, chosen))}
    chosen.sort(key=lambda s: order.get((s.marker, s.text), 0))
    return " ".join(f"{s.text} [{s.marker}]" for s in chosen)


def _reading_order(sources: list[tuple[int, str]], chosen: list[ScoredSentence]) -> list[ScoredSentence]:
    position = {marker: i for i, (marker, _) in enumerate(sources)}
    text_of = dict(sources)
    return sorted(chosen, key=lambda s: (position.get(s.marker, 0), text_of.get(s.marker, "").find(s.text)))
