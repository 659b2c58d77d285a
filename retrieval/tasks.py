"""Background work of the retrieval app (Celery)."""

from __future__ import annotations

from celery import shared_task

# Building one workspace's HNSW index takes minutes per 100k chunks on 2 cores: longer than ingestion tasks.
INDEX_TIME_LIMIT_S = 6 * 3600


@shared_task(ignore_result=True, time_limit=INDEX_TIME_LIMIT_S, soft_time_limit=INDEX_TIME_LIMIT_S - 60)
def vector_indexes_task() -> dict[str, list[int]]:
    """Beat: give large workspaces that are a small share of the table their own HNSW index (and drop the
    indexes of deleted workspaces). See ``retrieval.services.vector_indexes_ensure``."""
    from retrieval.services import vector_indexes_ensure

    return vector_indexes_ensure()
