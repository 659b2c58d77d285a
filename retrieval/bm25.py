"""Okapi BM25 computed inside PostgreSQL, over the chunks of one workspace.

    score(D, Q) = Σ_{t ∈ Q} qtf(t) · idf(t) · tf(t, D) · (k1 + 1) / (tf(t, D) + k1 · (1 − b + b · |D| / avgdl))
    idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))                 BM25_IDF="lucene" (default)
    idf(t)      = ln((N − df(t) + 0.5) / (df(t) + 0.5)), floored at ε · mean idf when negative   "okapi"

(Robertson & Zaragoza, "The Probabilistic Relevance Framework: BM25 and Beyond", 2009.) "okapi" is the classic
idf with ``rank_bm25.BM25Okapi``'s floor, so scores equal that library's on the same tokens; but it is zero
or negative for any term in half the chunks or more, which makes BM25 useless in small workspaces (with two
chunks, every term scores ≤ 0). "lucene" is Lucene's (and Elasticsearch's) always-positive idf, the one the
BEIR BM25 baselines use. A chunk's tokens are the
lexemes of its ``tsvector`` counted by position: tf(t, D) is the number of positions of t, |D| is
``Chunk.search_length``. N, avgdl and df come from ``WorkspaceStats``/``TermStats``, kept current by
triggers (see ``retrieval.models``). Candidates are the chunks matching any query lexeme (OR), found
through the GIN index; term frequencies are read in C by ``ts_filter(setweight(...))``.
"""

from __future__ import annotations

import functools
import math
from django.conf import settings
from django.db import connection

from retrieval.models import TermStats, WorkspaceStats
from retrieval.query import or_tsquery


def okapi_idf(*, df: int, n: int) -> float:
    """The raw Okapi idf ln((N − df + 0.5) / (df + 0.5)); negative when df > N/2."""
    return math.log(n - df + 0.5) - math.log(df + 0.5)


def lucene_idf(*, df: int, n: int) -> float:
    """Lucene's BM25 idf ln(1 + (N − df + 0.5) / (df + 0.5)); always positive."""
    return math.log1p((n - df + 0.5) / (df + 0.5))


@functools.lru_cache(maxsize=256)
def _mean_idf(workspace_id: int, generation: int, n: int) -> float:
    """Mean raw idf over the workspace's whole vocabulary; cached until the statistics change."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT avg(ln(%s - df + 0.5) - ln(df + 0.5)) FROM retrieval_termstats WHERE workspace_id = %s",
            [n, workspace_id],
        )
        (value,) = cursor.fetchone()
    return float(value or 0.0)


def term_weights(*, workspace_id: int, terms: dict[str, int]) -> tuple[dict[str, float], float]:
    """BM25 query-term weights ``qtf · idf`` for the terms present in the workspace, and avgdl (tokens).

    Terms absent from the workspace are left out (they match nothing). The mean idf, needed only when a
    term is in more than half of the chunks, costs one scan of the vocabulary per statistics change.
    Returns ``({}, 0.0)`` for an empty workspace.
    """
    weights, avgdl, _ = _term_statistics(workspace_id, terms)
    return weights, avgdl


def _term_statistics(workspace_id: int, terms: dict[str, int]) -> tuple[dict[str, float], float, dict[str, int]]:
    stats = WorkspaceStats.objects.filter(workspace_id=workspace_id).first()
    if stats is None or stats.chunk_count == 0 or not terms:
        return {}, 0.0, {}
    n = stats.chunk_count
    dfs = dict(
        TermStats.objects.filter(workspace_id=workspace_id, lexeme__in=list(terms)).values_list("lexeme", "df")
    )
    dfs = {term: df for term, df in dfs.items() if df > 0}
    if settings.BM25_IDF == "lucene":
        idfs = {term: lucene_idf(df=df, n=n) for term, df in dfs.items()}
        return {term: terms[term] * idf for term, idf in idfs.items()}, stats.average_length, dfs
    idfs = {term: okapi_idf(df=df, n=n) for term, df in dfs.items()}
    if any(idf < 0 for idf in idfs.values()):
        floor = settings.BM25_IDF_EPSILON * _mean_idf(workspace_id, stats.generation, n)
        idfs = {term: (floor if idf < 0 else idf) for term, idf in idfs.items()}
    return {term: terms[term] * idf for term, idf in idfs.items()}, stats.average_length, dfs


def candidate_terms(dfs: dict[str, int], *, max_postings: int) -> list[str]:
    """The query terms whose chunks become BM25 candidates: the rarest first, while their document
    frequencies add up to at most ``max_postings`` (always at least the rarest term).

    Every candidate is scored with all query terms, so scores stay exact; what is pruned is a chunk that
    contains only the query's most common terms, which have the lowest idf and so the smallest possible
    contributions (the "non-essential" terms of MaxScore, Turtle & Flood 1995). In a workspace whose
    matching postings fit the budget nothing is pruned and results equal full BM25.
    """
    chosen, postings = [], 0
    for term in sorted(dfs, key=lambda t: (dfs[t], t)):
        if chosen and postings + dfs[term] > max_postings:
            break
        chosen.append(term)
        postings += dfs[term]
    return chosen


def bm25_search(
    *, workspace_id: int, terms: dict[str, int], limit: int, document_ids: list[int] | None = None
) -> list[tuple[int, float]]:
    """Top ``limit`` chunks of the workspace by BM25 for ``terms`` (lexeme → count in the query).

    Returns ``[(chunk_id, score), ...]`` best first (ties by chunk id); empty when no term occurs in the
    workspace. ``document_ids`` restricts the search to those documents (the statistics stay the
    workspace's). Candidates are the chunks holding one of ``candidate_terms`` (all terms unless their
    postings exceed ``BM25_MAX_CANDIDATES``). Parameters come from settings ``BM25_K1``, ``BM25_B``,
    ``BM25_IDF``, ``BM25_IDF_EPSILON`` and ``BM25_MAX_CANDIDATES``.
    """
    weights, avgdl, dfs = _term_statistics(workspace_id, terms)
    if not weights:
        return []
    lexemes = list(weights)
    essential = candidate_terms(dfs, max_postings=settings.BM25_MAX_CANDIDATES)
    k1, b = settings.BM25_K1, settings.BM25_B
    doc_filter = "AND c.document_id = ANY(%(document_ids)s)" if document_ids is not None else ""
    sql = f"""
        SELECT c.id, sum(q.weight * t.tf * (%(k1)s + 1)
                         / (t.tf + %(k1)s * (1 - %(b)s + %(b)s * c.search_length / %(avgdl)s))) AS score
        FROM documents_chunk AS c
        CROSS JOIN LATERAL (
            SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1) AS tf
            FROM unnest(ts_filter(setweight(c.search_vector, 'A', %(lexemes)s::text[]), '{{a}}')) AS u
        ) AS t
        JOIN unnest(%(lexemes)s::text[], %(weights)s::float8[]) AS q(lexeme, weight) ON q.lexeme = t.lexeme
        WHERE c.workspace_id = %(workspace_id)s AND c.search_vector @@ %(tsquery)s::tsquery {doc_filter}
        GROUP BY c.id
        ORDER BY score DESC, c.id
        LIMIT %(limit)s
    """
    params = {
        "k1": k1, "b": b, "avgdl": avgdl, "lexemes": lexemes, "weights": [weights[t] for t in lexemes],
        "workspace_id": workspace_id, "tsquery": or_tsquery(essential), "document_ids": document_ids, "limit": limit,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(chunk_id, float(score)) for chunk_id, score in cursor.fetchall()]
