"""The offline extractive answerer: the default with no LLM configured, and the last link of every chain.

It answers with the retrieved sentences that best answer the question, cited to their source. A sentence's
score adds (a) lexical coverage: the BM25 idf weight of the question's terms it contains over the weight of
all of them (workspace statistics, so rare words count most); (b) the same coverage over the sentence with
its neighbours, since a question often borrows words from the sentence before or after the answer;
(c) the cosine similarity of its embedding to the question's (same model as retrieval); and (d) the
relevance of its whole source, the cosine retrieval measured between the chunk and the question (a sentence
like "It was founded in 1850." is only an answer in the right passage). Only the sentences with the best
lexical scores are embedded, which bounds the time to the first token. The best sentence
always goes in; more sentences of the same source follow while they are nearly as good and the answer stays
within ``CHAT_EXTRACTIVE_MAX_WORDS`` words. One source per answer: an answer that hops between passages is
harder to verify. Weights were chosen on SQuAD v1.1 dev questions 1-2,000 (``evaluate_answers``), checked on
the first and the second thousand separately so as not to fit one article (see the chat README section).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings

from chat.text import lexeme_sets, split_sentences
from documents.embeddings import embed_cached, embed_query
from retrieval.bm25 import term_weights
from retrieval.query import clean_query, parse_query

LEXICAL_WEIGHT = 0.4
WINDOW_WEIGHT = 0.45
SEMANTIC_WEIGHT = 0.4
SOURCE_WEIGHT = 1.0
SENTENCE_SOURCES = 3  # sentences are drawn from the first sources only
EMBEDDED_SENTENCES = 10  # the best sentences by lexical score that get an embedding
NEARLY_AS_GOOD = 0.3  # a further sentence of the same source goes in if its score is at least this share of the best


@dataclass(frozen=True)
class ScoredSentence:
    marker: int
    text: str
    score: float


def _score_sentences(
    question: str,
    sources: list[tuple[int, str]],
    relevance: dict[int, float],
    *,
    workspace_id: int,
    config: str,
    variant: str,
) -> list[ScoredSentence]:
    sentences: list[tuple[int, int, str]] = []  # (marker, index in its source, text)
    seen: set[str] = set()  # overlapping chunks repeat sentences: keep each once, from its best source
    for marker, text in sources[:SENTENCE_SOURCES]:
        for index, (a, b) in enumerate(split_sentences(text)):
            sentence = text[a:b]
            key = " ".join(sentence.lower().split())
            if key not in seen:
                seen.add(key)
                sentences.append((marker, index, sentence))
    if not sentences:
        return []
    terms = parse_query(question, config=config).terms
    weights, _ = term_weights(workspace_id=workspace_id, terms=terms)
    total = sum(weights.values())
    lexemes = lexeme_sets([text for _, _, text in sentences], config=config)
    by_position = {(marker, index): words for (marker, index, _), words in zip(sentences, lexemes, strict=True)}

    def coverage(words: set[str]) -> float:
        return sum(w for t, w in weights.items() if t in words) / total if total else 0.0

    lexical = []
    for (marker, index, text), words in zip(sentences, lexemes, strict=True):
        if len(text.split()) < 3:
            continue
        window = words.union(*(by_position.get((marker, index + d), set()) for d in (-1, 1)))
        lexical.append((LEXICAL_WEIGHT * coverage(words) + WINDOW_WEIGHT * coverage(window), marker, text))
    lexical.sort(key=lambda item: -item[0])
    lexical = lexical[:EMBEDDED_SENTENCES]
    if not lexical:
        return []
    # the question as retrieval cleaned it: its embedding is then the one retrieval just made (cached)
    sentences_embedded = embed_cached([text for _, _, text in lexical], variant=variant, scope=str(workspace_id))
    cosines = sentences_embedded @ embed_query(clean_query(question), variant=variant)
    scored = [
        ScoredSentence(
            marker, text, score + SEMANTIC_WEIGHT * float(cosine) + SOURCE_WEIGHT * relevance.get(marker, 0.0)
        )
        for (score, marker, text), cosine in zip(lexical, np.asarray(cosines, dtype=float), strict=True)
    ]
    return sorted(scored, key=lambda s: -s.score)


def extractive_answer(
    question: str,
    sources: list[tuple[int, str]],
    *,
    workspace_id: int,
    config: str,
    relevance: dict[int, float] | None = None,
    variant: str = "",
) -> str:
    """Compose a short cited answer from ``sources`` (``[(marker, chunk text), ...]``, best first).

    ``relevance``: ``{marker: cosine similarity of the source chunk to the question}`` as retrieval measured
    it (a missing marker counts 0). ``variant``: the workspace's embedding variant (its question embedding is
    then the one retrieval made).

    Returns text like ``"First sentence. [1] Second sentence. [1]"`` of at most ``CHAT_EXTRACTIVE_MAX_WORDS``
    words (the best sentence alone may be longer, cut at that many words), or "" when no source has a
    sentence.
    """
    ranked = _score_sentences(
        question, sources, relevance or {}, workspace_id=workspace_id, config=config, variant=variant
    )
    if not ranked:
        return ""
    limit = settings.CHAT_EXTRACTIVE_MAX_WORDS
    best = ranked[0]
    chosen = [best]
    words = len(best.text.split())
    for sentence in ranked[1:]:
        if sentence.score < NEARLY_AS_GOOD * best.score:
            break
        if sentence.marker != best.marker:
            continue
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
