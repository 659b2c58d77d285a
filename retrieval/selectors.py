"""The one entry point of retrieval: ``search_chunks`` (BM25, vector or hybrid by RRF), plus highlighting.

Everything is scoped to one workspace in the same SQL statement that ranks, so no query can return another
workspace's chunk. The query embedding comes from ``documents.embeddings`` (the model ingestion uses,
loaded once per process).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from documents.embeddings import embed_query
from documents.models import Chunk, Document
from retrieval.bm25 import bm25_search
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.query import InvalidQuery, ParsedQuery, or_tsquery, parse_query
from retrieval.vector import vector_search

logger = logging.getLogger(__name__)

Mode = Literal["bm25", "vector", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "vector", "hybrid")
_MARK_START, _MARK_END = "\ue000", "\ue001"  # private-use sentinels, swapped for <mark> after escaping


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


def search_chunks(
    *,
    workspace: Workspace,
    query: str,
    k: int = 10,
    mode: Mode = "hybrid",
    document_ids: list[int] | None = None,
    depth: int | None = None,
) -> list[SearchHit]:
    """Search the workspace's chunks; returns at most ``k`` hits, best first.

    - ``bm25``: Okapi BM25 in PostgreSQL over the lexemes of the query (OR), see ``retrieval.bm25``;
    - ``vector``: cosine KNN of the query embedding, see ``retrieval.vector``;
    - ``hybrid``: both, each to ``depth`` hits (default ``max(SEARCH_CANDIDATES, k)``), fused by weighted
      reciprocal rank fusion (k = ``RRF_K``, weights ``RRF_WEIGHT_BM25``/``RRF_WEIGHT_VECTOR``).

    A query with only stop words has no BM25 hits; one with no letter or digit at all (symbols, emoji)
    returns ``[]``. ``document_ids`` must already be checked (``check_document_ids``).

    Raises:
        InvalidQuery: empty or longer than ``SEARCH_MAX_QUERY_CHARS``.
        ValueError: unknown ``mode``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    parsed = parse_query(query, config=workspace.text_search_config)
    depth = max(depth or settings.SEARCH_CANDIDATES, k)
    bm25: list[tuple[int, float]] = []
    vector: list[tuple[int, float]] = []
    if mode in ("bm25", "hybrid") and parsed.terms:
        bm25 = bm25_search(workspace_id=workspace.pk, terms=parsed.terms, limit=depth, document_ids=document_ids)
    if mode in ("vector", "hybrid") and parsed.has_words:
        vector = vector_search(
            workspace_id=workspace.pk, embedding=embed_query(parsed.text), limit=depth, document_ids=document_ids
        )
    if mode == "hybrid":
        ranked = reciprocal_rank_fusion(
            {"bm25": [i for i, _ in bm25], "vector": [i for i, _ in vector]},
            k=settings.RRF_K,
            weights={"bm25": settings.RRF_WEIGHT_BM25, "vector": settings.RRF_WEIGHT_VECTOR},
        )
    else:
        ranked = bm25 if mode == "bm25" else vector
    return _hits(ranked[:k], bm25, vector)


def _hits(ranked: list[tuple[int, float]], bm25: list[tuple[int, float]],
          vector: list[tuple[int, float]]) -> list[SearchHit]:  # fmt: skip
    bm25_at = {chunk_id: RetrieverHit(rank, score) for rank, (chunk_id, score) in enumerate(bm25, start=1)}
    vector_at = {chunk_id: RetrieverHit(rank, score) for rank, (chunk_id, score) in enumerate(vector, start=1)}
    chunks = Chunk.objects.select_related("document").defer("embedding", "search_vector").in_bulk(
        [chunk_id for chunk_id, _ in ranked]
    )
    return [
        SearchHit(chunk=chunks[chunk_id], score=score, bm25=bm25_at.get(chunk_id), vector=vector_at.get(chunk_id))
        for chunk_id, score in ranked
        if chunk_id in chunks  # a chunk deleted between ranking and loading is skipped
    ]


def chunk_headlines(*, workspace: Workspace, query: ParsedQuery, chunk_ids: list[int]) -> dict[int, str]:
    """Safe HTML excerpts of chunks with the query's lexemes wrapped in ``<mark>`` (PostgreSQL ``ts_headline``).

    The document text is HTML-escaped before the marks are inserted. Returns ``{chunk_id: html}``; chunks
    without a match get their first words.
    """
    if not chunk_ids:
        return {}
    options = f"StartSel={_MARK_START}, StopSel={_MARK_END}, MaxWords=45, MinWords=20, MaxFragments=2"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, ts_headline(%s::regconfig, text, %s::tsquery, %s) FROM documents_chunk"
            " WHERE workspace_id = %s AND id = ANY(%s)",
            [workspace.text_search_config, or_tsquery(query.terms), options, workspace.pk, chunk_ids],
        )
        rows = cursor.fetchall()
    return {
        chunk_id: html.escape(text).replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")
        for chunk_id, text in rows
    }
