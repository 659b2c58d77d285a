"""Cosine nearest neighbours among one workspace's chunks, without losing recall to the workspace filter.

An HNSW scan visits ``hnsw.ef_search`` candidates of the *whole* table; a ``WHERE workspace_id = …`` applied
after it keeps only those of the workspace, so a workspace that is a small share of the table gets fewer
than k rows (pgvector docs, "Filtering"). Groundwork picks the plan from the size of the searched scope:

- scope ≤ ``VECTOR_EXACT_MAX_CHUNKS`` chunks, or too small a share of the table for the index to reach k
  rows: exact search (the workspace/document B-tree index, then distances over those rows only);
- otherwise the HNSW index with ``ef_search`` raised so that, in expectation, 1.5 × the needed rows of the
  scope are among the candidates; if fewer come back, the exact search runs instead.

So results are always the scope's own and never silently short.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from documents.models import Document
from retrieval.models import WorkspaceStats

logger = logging.getLogger(__name__)

HNSW_EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


def _vector_literal(embedding: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(embedding, dtype=np.float32).ravel()) + "]"


def _scope_size(workspace_id: int, document_ids: list[int] | None) -> int:
    if document_ids is not None:
        counts = Document.objects.filter(workspace_id=workspace_id, pk__in=document_ids).values_list(
            "chunk_count", flat=True
        )
        return sum(counts)
    stats = WorkspaceStats.objects.filter(workspace_id=workspace_id).first()
    return stats.chunk_count if stats else 0


def _table_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'documents_chunk'::regclass")
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _exact(vector: str, workspace_id: int, limit: int, document_ids: list[int] | None) -> list[tuple[int, float]]:
    doc_filter = "AND document_id = ANY(%s)" if document_ids is not None else ""
    params: list[object] = [vector, workspace_id] + ([document_ids] if document_ids is not None else []) + [limit]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")  # the HNSW index is an index scan; B-tree → bitmap scan
        cursor.execute(
            f"""SELECT id, distance FROM (
                    SELECT id, embedding <=> %s::vector AS distance FROM documents_chunk
                    WHERE workspace_id = %s {doc_filter}
                ) AS s ORDER BY distance, id LIMIT %s""",
            params,
        )
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]


def _hnsw(vector: str, workspace_id: int, limit: int, ef: int,
          document_ids: list[int] | None) -> list[tuple[int, float]]:  # fmt: skip
    doc_filter = "AND document_id = ANY(%s)" if document_ids is not None else ""
    params: list[object] = [vector, ef, workspace_id] + ([document_ids] if document_ids is not None else []) + [limit]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(ef)])
        cursor.execute(
            f"""SELECT id, distance FROM (
                    SELECT id, workspace_id, document_id, embedding <=> %s::vector AS distance
                    FROM documents_chunk ORDER BY distance LIMIT %s
                ) AS s WHERE workspace_id = %s {doc_filter} ORDER BY distance, id LIMIT %s""",
            params,
        )
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]


def vector_search(
    *, workspace_id: int, embedding: np.ndarray, limit: int, document_ids: list[int] | None = None
) -> list[tuple[int, float]]:
    """Top ``limit`` chunks of the workspace by cosine similarity to ``embedding`` ((384,) float32, normalized).

    Returns ``[(chunk_id, cosine similarity in [-1, 1]), ...]`` best first; ``min(limit, scope size)`` rows.
    ``document_ids`` restricts the scope to those documents of the workspace.
    """
    scope = _scope_size(workspace_id, document_ids)
    if scope == 0:
        return []
    vector = _vector_literal(embedding)
    needed = min(limit, scope)
    share = scope / max(_table_size(), scope)
    ef = max(settings.HNSW_EF_SEARCH, math.ceil(1.5 * needed / share))
    if scope <= settings.VECTOR_EXACT_MAX_CHUNKS or ef > HNSW_EF_SEARCH_MAX:
        return _exact(vector, workspace_id, limit, document_ids)
    hits = _hnsw(vector, workspace_id, limit, ef, document_ids)
    if len(hits) < needed:
        logger.info("HNSW returned %d of %d rows (ef_search=%d, share %.3f); exact search", len(hits), needed, ef, share)
        return _exact(vector, workspace_id, limit, document_ids)
    return hits
