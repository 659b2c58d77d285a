"""The one entry point of retrieval: ``search_chunks`` (BM25, vector or hybrid by RRF), plus highlighting.

Everything is scoped to one workspace in the same SQL statement that ranks, so no query can return another
workspace's chunk. The query embedding comes from ``documents.embeddings`` (the model ingestion uses,
loaded once per process).
"""

from __future__ import annotations

import html
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from config.metrics import search_observe
from documents.embeddings import embed_query_async
from documents.models import Chunk, Document
from documents.selectors import VERSION_TEXT_FIELDS
from retrieval.bm25 import bm25_search
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.query import InvalidQuery, ParsedQuery, clean_query, has_words, query_terms
from retrieval.vector import vector_plan, vector_search

logger = logging.getLogger(__name__)

Mode = Literal["bm25", "vector", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "vector", "hybrid")


@dataclass(frozen=True)
class RetrieverHit:
    """A chunk's place in one retriever's ranking: rank from 1, and that retriever's own score
    (BM25 score, unbounded; or cosine similarity in [-1, 1])."""

    rank: int
    score: float


@dataclass(frozen=True)
class SearchHit:
    """One result: the chunk (with ``chunk.document`` loaded), the final score (the fused RRF score in
    hybrid mode, else the retriever's score) and each retriever's rank and score (None if it missed it)."""

    chunk: Chunk
    score: float
    bm25: RetrieverHit | None
    vector: RetrieverHit | None

    @property
    def document(self) -> Document:
        return self.chunk.document


class InvalidDocumentFilter(InvalidQuery):
    code = "invalid_document_ids"


def check_document_ids(*, workspace: Workspace, document_ids: list[int] | None) -> list[int] | None:
    """Validate a document filter against the workspace. Ids of other workspaces and unknown ids get the same
    message, so the error reveals nothing. Raises InvalidDocumentFilter."""
    if document_ids is None:
        return None
    wanted = sorted(set(document_ids))
    found = set(Document.objects.filter(workspace=workspace, pk__in=wanted).values_list("pk", flat=True))
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise InvalidDocumentFilter(f"Unknown document id(s) in this workspace: {', '.join(missing[:10])}.")
    return wanted


def rrf_weights() -> dict[str, float]:
    """Each retriever's weight in the hybrid fusion: ``{"bm25": RRF_WEIGHT_BM25, "vector": RRF_WEIGHT_VECTOR}``."""
    return {"bm25": settings.RRF_WEIGHT_BM25, "vector": settings.RRF_WEIGHT_VECTOR}


def search_chunks(
    *,
    workspace: Workspace,
    query: str | ParsedQuery,
    k: int = 10,
    mode: Mode = "hybrid",
    document_ids: list[int] | None = None,
    depth: int | None = None,
) -> list[SearchHit]:
    """Search the workspace's chunks; returns at most ``k`` hits, best first.

    - ``bm25``: Okapi BM25 in PostgreSQL over the lexemes of the query (OR), see ``retrieval.bm25``;
    - ``vector``: cosine KNN of the query embedding, see ``retrieval.vector``;
    - ``hybrid``: both, each to ``depth`` hits (default ``max(SEARCH_CANDIDATES, k)``), fused by weighted
      reciprocal rank fusion (k = ``RRF_K``, weights ``RRF_WEIGHT_BM25``/``RRF_WEIGHT_VECTOR``); the query
      is embedded in a worker thread while BM25 runs.

    ``query`` is the user's text, or a ``ParsedQuery`` from ``parse_query`` (in the workspace's text search
    configuration), used as it is, when the caller needs it too (the search page highlights its terms).
    A query with only stop words has no BM25 hits; one with no letter or digit at all (symbols, emoji)
    returns ``[]``. ``document_ids`` must already be checked (``check_document_ids``).

    Raises:
        InvalidQuery: empty or longer than ``SEARCH_MAX_QUERY_CHARS``.
        ValueError: unknown ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    clock = time.perf_counter()
    text = query.text if isinstance(query, ParsedQuery) else clean_query(query)
    embedding: Future | None = None
    if mode in ("vector", "hybrid") and has_words(text):
        # embedded on the inference thread while this one waits for PostgreSQL's BM25: a hybrid search
        # costs max(embedding, BM25) + vector search instead of their sum
        embedding = embed_query_async(text, variant=workspace.embedding_variant)  # as its chunks were embedded
    terms = query.terms if isinstance(query, ParsedQuery) else query_terms(text, config=workspace.text_search_config)
    depth = max(depth or settings.SEARCH_CANDIDATES, k)
    bm25: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []
    timings: dict[str, float] = {}
    if mode in ("bm25", "hybrid") and terms:
        started = time.perf_counter()
        bm25 = bm25_search(workspace_id=workspace.pk, terms=terms, limit=depth, document_ids=document_ids)
        timings["bm25"] = time.perf_counter() - started
    if embedding is not None:
        started = time.perf_counter()  # the query's embedding (what is left of it after BM25) and the KNN
        vector = _vector_hits(workspace_id=workspace.pk, embedding=embedding, limit=depth, document_ids=document_ids)
        timings["vector"] = time.perf_counter() - started
    if mode == "hybrid":
        ranked = reciprocal_rank_fusion(
            {"bm25": [i for i, _ in bm25], "vector": [i for i, _ in vector]},
            k=settings.RRF_K,
            weights=rrf_weights(),
        )
    else:
        ranked = bm25 if mode == "bm25" else vector
    hits = _hits(ranked[:k], bm25, vector)
    search_observe(mode=mode, timings={**timings, "total": time.perf_counter() - clock})
    return hits


def _vector_hits(
    *, workspace_id: int, embedding: Future, limit: int, document_ids: list[int] | None
) -> list[tuple[int, float]]:
    plan = vector_plan(workspace_id=workspace_id, limit=limit, document_ids=document_ids)
    return vector_search(
        workspace_id=workspace_id, embedding=embedding.result(), limit=limit, document_ids=document_ids, plan=plan
    )


def _hits(
    ranked: list[tuple[int, float]], bm25: list[tuple[int, float]], vector: list[tuple[int, float]]
) -> list[SearchHit]:
    bm25_at = {chunk_id: RetrieverHit(rank, score) for rank, (chunk_id, score) in enumerate(bm25, start=1)}
    vector_at = {chunk_id: RetrieverHit(rank, score) for rank, (chunk_id, score) in enumerate(vector, start=1)}
    chunks = (
        Chunk.objects.select_related("document", "version")
        .defer("embedding", "search_vector", *VERSION_TEXT_FIELDS)
        .in_bulk([chunk_id for chunk_id, _ in ranked])
    )
    return [
        SearchHit(chunk=chunks[chunk_id], score=score, bm25=bm25_at.get(chunk_id), vector=vector_at.get(chunk_id))
        for chunk_id, score in ranked
        if chunk_id in chunks  # a chunk deleted between ranking and loading is skipped
    ]


def chunk_headlines(
    *, workspace: Workspace, query: ParsedQuery, chunk_ids: list[int], words: int = 60
) -> dict[int, str]:
    """Safe HTML excerpts of chunks, about ``words`` words around the first match, with the words whose
    lexemes are in the query wrapped in ``<mark>``.

    PostgreSQL's parser (``ts_debug``, the workspace's configuration, so matches are those BM25 counted)
    splits the text into tokens (compound words also yield their parts, which are folded back into them), and
    the excerpt is rebuilt from the tokens that tile the text; every token is HTML-escaped. (Unlike
    ``ts_headline``, nothing that looks like a tag is dropped from what the user reads.) Returns
    ``{chunk_id: html}``; a chunk with no match starts at its beginning.
    """
    if not chunk_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT c.id, d.token, d.lexemes FROM {Chunk._meta.db_table} AS c,
                   LATERAL ts_debug(%s::regconfig, c.text) WITH ORDINALITY
                       AS d(alias, description, token, dictionaries, dictionary, lexemes, n)
               WHERE c.workspace_id = %s AND c.id = ANY(%s) ORDER BY c.id, d.n""",
            [workspace.text_search_config, workspace.pk, chunk_ids],
        )
        rows = cursor.fetchall()
    texts = dict(Chunk.objects.filter(pk__in=chunk_ids, workspace=workspace).values_list("pk", "text"))
    tokens: dict[int, list[tuple[str, bool]]] = {}
    positions: dict[int, int] = {}
    for chunk_id, token, lexemes in rows:
        hit = bool(lexemes and set(lexemes) & query.terms.keys())
        parts, pos = tokens.setdefault(chunk_id, []), positions.get(chunk_id, 0)
        if texts[chunk_id].startswith(token, pos):
            parts.append((token, hit))
            positions[chunk_id] = pos + len(token)
        elif hit and parts:  # a part of the compound just emitted (e.g. "mail" in "e-mail")
            parts[-1] = (parts[-1][0], True)
    for chunk_id, parts in tokens.items():  # never lose text the parser skipped
        if positions[chunk_id] < len(texts[chunk_id]):
            parts.append((texts[chunk_id][positions[chunk_id] :], False))
    return {chunk_id: _excerpt(parts, words) for chunk_id, parts in tokens.items()}


def _excerpt(parts: list[tuple[str, bool]], words: int) -> str:
    word_at = [i for i, (token, _) in enumerate(parts) if token.strip()]
    first = next((n for n, i in enumerate(word_at) if parts[i][1]), 0)
    begin = max(0, first - words // 4)
    end = min(len(word_at), begin + words)
    begin = max(0, end - words)
    lo = word_at[begin] if word_at else 0
    hi = word_at[end - 1] + 1 if word_at else len(parts)
    body = "".join(f"<mark>{html.escape(t)}</mark>" if hit else html.escape(t) for t, hit in parts[lo:hi])
    return ("… " if lo > 0 else "") + body + (" …" if hi < len(parts) else "")
