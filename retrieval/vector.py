"""Cosine nearest neighbours among one workspace's chunks, without losing recall to the workspace filter.

An HNSW scan visits ``hnsw.ef_search`` candidates of the *whole* table; a ``WHERE workspace_id = …`` applied
after it keeps only those of the workspace, so a workspace that is a small share of the table gets fewer
than k rows (pgvector docs, "Filtering"). Groundwork picks the plan from the size of the searched scope:

- scope ≤ ``VECTOR_EXACT_MAX_CHUNKS`` chunks, or too small a share of the table for the index to reach k
  rows: exact search (the workspace/document B-tree index, then distances over those rows only);
- a large workspace that is a small share of the table has its own HNSW index, partial on
  ``workspace_id`` (pgvector docs, "Partial indexes"; built by ``retrieval.services.vector_index_ensure``):
  searched through it, the workspace is the whole index, so a modest ``ef_search`` reaches k rows;
- otherwise the table's HNSW index with ``ef_search`` raised so that, in expectation, 1.5 × the needed rows
  of the scope are among the candidates; if fewer come back, the exact search runs instead.

So results are always the scope's own and never silently short.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection

from documents.models import Chunk, Document

logger = logging.getLogger(__name__)

HNSW_EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


def _vector_literal(embedding: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in np.asarray(embedding, dtype=np.float32).ravel()) + "]"


OWN_INDEX_PREFIX = "chunk_embedding_hnsw_ws"  # + the workspace id
_CHUNKS = Chunk._meta.db_table
_TABLE_ROWS = f"SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = '{_CHUNKS}'::regclass"


def own_index_name(workspace_id: int) -> str:
    """The name of a workspace's own (partial) HNSW index."""
    return f"{OWN_INDEX_PREFIX}{int(workspace_id)}"


def table_rows_estimate() -> int:
    """The planner's estimate of the chunks in the whole table (``pg_class.reltuples``; 0 before ANALYZE)."""
    with connection.cursor() as cursor:
        cursor.execute(_TABLE_ROWS)
        return int(cursor.fetchone()[0] or 0)


def has_own_index(workspace_id: int) -> bool:
    """True if the workspace's own HNSW index exists and is valid (a failed concurrent build is not)."""
    with connection.cursor() as cursor:
        cursor.execute(_OWN_INDEX_VALID, [own_index_name(workspace_id)])
        return bool(cursor.fetchone()[0])


_OWN_INDEX_VALID = """SELECT EXISTS (SELECT 1 FROM pg_class AS c JOIN pg_index AS i ON i.indexrelid = c.oid
                                     WHERE c.relname = %s AND i.indisvalid AND i.indisready)"""


def _sizes(workspace_id: int, document_ids: list[int] | None) -> tuple[int, int, int, bool]:
    """One round trip: chunks in the searched scope, in the workspace, estimated rows of the whole table, and
    whether the workspace has its own index."""
    if document_ids is not None:
        scope = (
            f"SELECT coalesce(sum(chunk_count), 0) FROM {Document._meta.db_table}"
            " WHERE workspace_id = %s AND id = ANY(%s)"
        )
        params: list[Any] = [workspace_id, document_ids]
    else:
        scope = "SELECT chunk_count FROM retrieval_workspacestats WHERE workspace_id = %s"
        params = [workspace_id]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT coalesce(({scope}), 0),
                       coalesce((SELECT chunk_count FROM retrieval_workspacestats WHERE workspace_id = %s), 0),
                       ({_TABLE_ROWS}),
                       ({_OWN_INDEX_VALID})""",
            [*params, workspace_id, own_index_name(workspace_id)],
        )
        scope_size, workspace_size, table_size, own = cursor.fetchone()
    return int(scope_size), int(workspace_size), int(table_size or 0), bool(own)


def _exact(vector: str, workspace_id: int, limit: int, document_ids: list[int] | None) -> list[tuple[int, float]]:
    doc_filter = "AND document_id = ANY(%s)" if document_ids is not None else ""
    params: list[Any] = [vector, workspace_id] + ([document_ids] if document_ids is not None else []) + [limit]
    with connection.cursor() as cursor:  # one implicit transaction, as in _hnsw
        cursor.execute(  # the HNSW index is an index scan; with index scans off the B-tree is a bitmap scan
            f"""SET LOCAL enable_indexscan = off;
                SELECT id, distance FROM (
                    SELECT id, embedding <=> %s::vector AS distance FROM {_CHUNKS}
                    WHERE workspace_id = %s {doc_filter}
                ) AS s ORDER BY distance, id LIMIT %s""",
            params,
        )
        cursor.nextset()
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]


def _hnsw(
    vector: str, workspace_id: int, limit: int, ef: int, document_ids: list[int] | None, own_index: bool
) -> list[tuple[int, float]]:
    doc_filter = "AND document_id = ANY(%s)" if document_ids is not None else ""
    doc_params = [document_ids] if document_ids is not None else []
    # With its own index the workspace condition goes inside, where the planner matches the partial index.
    own = "WHERE workspace_id = %s" if own_index else ""
    own_params = [workspace_id] if own_index else []
    params: list[Any] = [ef, vector, *own_params, ef, workspace_id, *doc_params, limit]
    with connection.cursor() as cursor:
        # One round trip: several statements in one (client-side bound, Django's default for psycopg) query
        # run as one implicit transaction, so SET LOCAL holds for the SELECT only.
        cursor.execute(
            f"""SET LOCAL hnsw.ef_search = %s;
                SELECT id, distance FROM (
                    SELECT id, workspace_id, document_id, embedding <=> %s::vector AS distance
                    FROM {_CHUNKS} {own} ORDER BY distance LIMIT %s
                ) AS s WHERE workspace_id = %s {doc_filter} ORDER BY distance, id LIMIT %s""",
            params,
        )
        cursor.nextset()
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in cursor.fetchall()]


@dataclass(frozen=True)
class VectorPlan:
    """How one scope is searched: its size (chunks), and exact search or HNSW with ``ef`` (hnsw.ef_search),
    through the workspace's own index if it has one."""

    workspace_id: int
    document_ids: list[int] | None
    scope: int
    exact: bool
    ef: int
    own_index: bool


def vector_plan(*, workspace_id: int, limit: int, document_ids: list[int] | None = None) -> VectorPlan:
    """Choose the plan for a search of ``limit`` rows (one query); needs no embedding, so callers can make it
    while the query is being embedded."""
    scope, workspace_size, table, own_index = _sizes(workspace_id, document_ids)
    share = scope / max(workspace_size if own_index else table, scope, 1)
    ef = max(settings.HNSW_EF_SEARCH, math.ceil(1.5 * min(limit, scope) / share)) if scope else 0
    exact = scope <= settings.VECTOR_EXACT_MAX_CHUNKS or ef > HNSW_EF_SEARCH_MAX
    return VectorPlan(
        workspace_id=workspace_id, document_ids=document_ids, scope=scope, exact=exact, ef=ef, own_index=own_index
    )


def vector_search(
    *,
    workspace_id: int,
    embedding: np.ndarray,
    limit: int,
    document_ids: list[int] | None = None,
    plan: VectorPlan | None = None,
) -> list[tuple[int, float]]:
    """Top ``limit`` chunks of the workspace by cosine similarity to ``embedding`` ((384,) float32, normalized).

    Returns ``[(chunk_id, cosine similarity in [-1, 1]), ...]`` best first; ``min(limit, scope size)`` rows.
    ``document_ids`` restricts the scope to those documents of the workspace. ``plan``: from ``vector_plan``
    with the same arguments (made here when not given).
    """
    plan = plan or vector_plan(workspace_id=workspace_id, limit=limit, document_ids=document_ids)
    if plan.scope == 0:
        return []
    vector = _vector_literal(embedding)
    if plan.exact:
        return _exact(vector, workspace_id, limit, document_ids)
    hits = _hnsw(vector, workspace_id, limit, plan.ef, document_ids, plan.own_index)
    if len(hits) < min(limit, plan.scope):
        logger.info("HNSW returned %d of %d rows (ef_search=%d); exact search", len(hits), limit, plan.ef)
        return _exact(vector, workspace_id, limit, document_ids)
    return hits
