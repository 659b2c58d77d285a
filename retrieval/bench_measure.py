"""What ``manage.py bench_search`` measures: ``search_chunks`` latency by stage, and the pruned searches' quality."""

from __future__ import annotations

import statistics
import time
from typing import Any

from django.conf import settings
from django.test import override_settings

from accounts.models import Workspace
from config.stats import percentiles
from documents.embeddings import embed_query
from documents.models import Document
from documents.vector_cache import fresh_query_cache
from retrieval.bm25 import bm25_search
from retrieval.query import parse_query
from retrieval.selectors import search_chunks
from retrieval.vector import vector_search


def _bm25_agreement(workspace: Workspace, questions: list[str], depth: int) -> float:
    """Mean share of exhaustive BM25's top 10 that the pruned BM25 (the settings) also ranks in its top 10."""
    shares = []
    for q in questions:
        terms = parse_query(q, config=workspace.text_search_config).terms
        pruned = [c for c, _ in bm25_search(workspace_id=workspace.pk, terms=terms, limit=depth)[:10]]
        with override_settings(BM25_MAX_CANDIDATES=2**62):
            full = [c for c, _ in bm25_search(workspace_id=workspace.pk, terms=terms, limit=depth)[:10]]
        if full:
            shares.append(len(set(pruned) & set(full)) / len(full))
    return round(statistics.mean(shares), 4) if shares else 1.0


def _vector_recall(workspace: Workspace, questions: list[str], depth: int) -> float:
    """Mean share of the exact top 10 (a full scan of the workspace) that the index search also returns."""
    shares = []
    for q in questions:
        vector = embed_query(q)
        found = [c for c, _ in vector_search(workspace_id=workspace.pk, embedding=vector, limit=depth)[:10]]
        with override_settings(VECTOR_EXACT_MAX_CHUNKS=2**62):
            exact = [c for c, _ in vector_search(workspace_id=workspace.pk, embedding=vector, limit=depth)[:10]]
        shares.append(len(set(found) & set(exact)) / max(len(exact), 1))
    return round(statistics.mean(shares), 4) if shares else 1.0


def search_measure(*, workspace: Workspace, small: Workspace, questions: list[str], mode: Any) -> dict[str, Any]:
    """Time ``search_chunks`` (k=10, ``mode``) on ``workspace`` for each question, after 20 warm-up queries.

    Returns p50/p95/p99 in ms of the whole call and of its stages (query embedding with a fresh query cache,
    BM25 and vector candidates at ``SEARCH_CANDIDATES``), the pruned BM25's top-10 agreement with exhaustive
    BM25, the vector index's recall@10 against an exact scan, and whether ``small`` (another workspace) gets
    k results drawn only from its own documents.
    """
    for q in questions[:20]:  # warm-up: model, caches
        search_chunks(workspace=workspace, query=q, k=10, mode=mode)
    total, embed, bm25, vector = [], [], [], []
    depth = settings.SEARCH_CANDIDATES
    for q in questions:
        with fresh_query_cache():  # measure the model, not the query cache
            t0 = time.perf_counter()
            search_chunks(workspace=workspace, query=q, k=10, mode=mode)
            t1 = time.perf_counter()
        parsed = parse_query(q, config=workspace.text_search_config)
        with fresh_query_cache():
            t2 = time.perf_counter()
            vec = embed_query(parsed.text)
            t3 = time.perf_counter()
        bm25_search(workspace_id=workspace.pk, terms=parsed.terms, limit=depth)
        t4 = time.perf_counter()
        vector_search(workspace_id=workspace.pk, embedding=vec, limit=depth)
        t5 = time.perf_counter()
        total.append((t1 - t0) * 1000)
        embed.append((t3 - t2) * 1000)
        bm25.append((t4 - t3) * 1000)
        vector.append((t5 - t4) * 1000)
    agreement = _bm25_agreement(workspace, questions[:100], depth)
    recall = _vector_recall(workspace, questions[:30], depth)
    own = set(Document.objects.filter(workspace=small).values_list("pk", flat=True))
    small_hits = [search_chunks(workspace=small, query=q, k=10, mode=mode) for q in questions[:50]]
    return {
        "mode": mode,
        "queries": len(questions),
        "search_chunks_ms": percentiles(total),
        "embed_query_ms": percentiles(embed),
        "bm25_ms": percentiles(bm25),
        "vector_ms": percentiles(vector),
        "bm25_top10_agreement": agreement,
        "vector_recall@10_vs_exact": recall,
        "small_workspace_k_results": all(len(h) == 10 for h in small_hits),
        "small_workspace_only_own": all(hit.chunk.document_id in own for h in small_hits for hit in h),
    }
