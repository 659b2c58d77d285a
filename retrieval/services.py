"""Writes of the retrieval app: repairing BM25 statistics, workspaces' own vector indexes, golden-set cases."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PostgresSchemaEditor
from django.db.models import Q
from pgvector.django import HnswIndex

from accounts.models import Workspace
from documents.models import Chunk, Document
from retrieval.models import GoldenQuery, WorkspaceStats
from retrieval.vector import OWN_INDEX_PREFIX, has_own_index, own_index_name, table_rows_estimate

logger = logging.getLogger(__name__)
_CHUNKS = Chunk._meta.db_table


@transaction.atomic
def workspace_stats_rebuild(*, workspace_id: int) -> None:
    """Recompute a workspace's BM25 statistics (N, total length, df of every lexeme) and postings from its chunks.

    The triggers keep them current, so this is a repair tool (and the reference the tests compare the
    incremental state with). Takes the same advisory lock as the triggers; O(chunks of the workspace).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(1917, %s::int)", [workspace_id])
        cursor.execute("DELETE FROM retrieval_termstats WHERE workspace_id = %s", [workspace_id])
        cursor.execute("DELETE FROM retrieval_workspacestats WHERE workspace_id = %s", [workspace_id])
        cursor.execute("DELETE FROM retrieval_posting WHERE workspace_id = %s", [workspace_id])
        cursor.execute(
            f"""INSERT INTO retrieval_workspacestats (workspace_id, chunk_count, total_length, generation)
               SELECT %s, count(*), coalesce(sum(search_length), 0), 1
               FROM {_CHUNKS} WHERE workspace_id = %s AND search_vector IS NOT NULL""",
            [workspace_id, workspace_id],
        )
        cursor.execute(
            f"""INSERT INTO retrieval_termstats (workspace_id, lexeme, df)
               SELECT %s, u.lexeme, count(*) FROM {_CHUNKS} AS c, unnest(c.search_vector) AS u
               WHERE c.workspace_id = %s GROUP BY u.lexeme""",
            [workspace_id, workspace_id],
        )
        cursor.execute(
            f"""INSERT INTO retrieval_posting (workspace_id, lexeme, chunk_id, document_id, tf, length)
               SELECT c.workspace_id, u.lexeme, c.id, c.document_id, coalesce(array_length(u.positions, 1), 1),
                      c.search_length
               FROM {_CHUNKS} AS c, unnest(c.search_vector) AS u WHERE c.workspace_id = %s""",
            [workspace_id],
        )


def vector_index_ensure(*, workspace_id: int) -> bool:
    """Build the workspace's own HNSW index (the table's index definition, ``Chunk.Meta``, made partial:
    ``WHERE workspace_id = …``) if it does not exist or a previous build failed. Returns True if it built one.

    ``CREATE INDEX CONCURRENTLY`` (ingestion and search go on meanwhile) when called outside a transaction,
    a plain ``CREATE INDEX`` inside one. A session advisory lock makes a concurrent call return False instead
    of building twice. Takes minutes for 100k chunks on 2 cores.
    """
    index = _own_index(workspace_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(1918, %s::int)", [workspace_id])
        if not cursor.fetchone()[0]:
            return False
        try:
            if has_own_index(workspace_id):
                return False
            concurrently = not connection.in_atomic_block
            if not concurrently:  # CREATE INDEX refuses a table with deferred constraint checks pending
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            with connection.schema_editor(atomic=False) as editor:
                assert isinstance(editor, PostgresSchemaEditor)  # pgvector: PostgreSQL only
                editor.remove_index(Chunk, index, concurrently=concurrently)  # an invalid one, from a failed build
                editor.add_index(Chunk, index, concurrently=concurrently)
            logger.info("built %s in %.1f s", index.name, time.perf_counter() - started)
            return True
        finally:
            cursor.execute("SELECT pg_advisory_unlock(1918, %s::int)", [workspace_id])


def _own_index(workspace_id: int) -> HnswIndex:
    table_index = next(index for index in Chunk._meta.indexes if isinstance(index, HnswIndex))
    _, args, kwargs = table_index.deconstruct()
    kwargs.update(name=own_index_name(workspace_id), condition=Q(workspace_id=workspace_id))
    return HnswIndex(*args, **kwargs)


def vector_indexes_ensure() -> dict[str, list[int]]:
    """Give every workspace of at least ``VECTOR_OWN_INDEX_MIN_CHUNKS`` chunks that holds at most
    ``VECTOR_OWN_INDEX_MAX_SHARE`` of the table its own HNSW index, and drop those of deleted workspaces.
    (Run by Celery beat; ``bench_search`` calls it after building.) Returns ``{"built": [...], "dropped": [...]}``.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            rf"""SELECT substring(c.relname from '(\d+)$')::bigint FROM pg_class AS c
                WHERE c.relkind = 'i' AND c.relname ~ ('^' || %s || '\d+$')
                  AND NOT EXISTS (SELECT 1 FROM {Workspace._meta.db_table} AS w
                                  WHERE w.id = substring(c.relname from '(\d+)$')::bigint)""",
            [OWN_INDEX_PREFIX],
        )
        orphans = [row[0] for row in cursor.fetchall()]
        for workspace_id in orphans:
            cursor.execute(f"DROP INDEX IF EXISTS {own_index_name(workspace_id)}")
    table = table_rows_estimate()
    large = WorkspaceStats.objects.filter(chunk_count__gte=settings.VECTOR_OWN_INDEX_MIN_CHUNKS).values_list(
        "workspace_id", "chunk_count"
    )
    built = [
        workspace_id
        for workspace_id, chunks in large
        if chunks <= settings.VECTOR_OWN_INDEX_MAX_SHARE * max(table, 1)
        and vector_index_ensure(workspace_id=workspace_id)
    ]
    return {"built": built, "dropped": orphans}


def golden_query_create(
    *, workspace: Workspace, question: str, expected_document: Document, expected_passage: str = "", note: str = ""
) -> GoldenQuery:
    """Add a case to the workspace's golden set. Raises ValidationError if the document is not the
    workspace's or the question is empty."""
    case = GoldenQuery(
        workspace=workspace,
        question=question.strip(),
        expected_document=expected_document,
        expected_passage=expected_passage.strip(),
        note=note,
    )
    case.full_clean()  # includes GoldenQuery.clean: the document must be the workspace's
    case.save()
    return case
