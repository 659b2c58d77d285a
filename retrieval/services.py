"""Writes of the retrieval app: repairing BM25 statistics, and golden-set cases."""

from __future__ import annotations

from django.db import connection, transaction

from accounts.models import Workspace
from documents.models import Document
from retrieval.models import GoldenQuery


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
            """INSERT INTO retrieval_workspacestats (workspace_id, chunk_count, total_length, generation)
               SELECT %s, count(*), coalesce(sum(search_length), 0), 1
               FROM documents_chunk WHERE workspace_id = %s AND search_vector IS NOT NULL""",
            [workspace_id, workspace_id],
        )
        cursor.execute(
            """INSERT INTO retrieval_termstats (workspace_id, lexeme, df)
               SELECT %s, u.lexeme, count(*) FROM documents_chunk AS c, unnest(c.search_vector) AS u
               WHERE c.workspace_id = %s GROUP BY u.lexeme""",
            [workspace_id, workspace_id],
        )
        cursor.execute(
            """INSERT INTO retrieval_posting (workspace_id, lexeme, chunk_id, document_id, tf, length)
               SELECT c.workspace_id, u.lexeme, c.id, c.document_id, coalesce(array_length(u.positions, 1), 1),
                      c.search_length
               FROM documents_chunk AS c, unnest(c.search_vector) AS u WHERE c.workspace_id = %s""",
            [workspace_id],
        )


def golden_query_create(
    *, workspace: Workspace, question: str, expected_document: Document, expected_passage: str = "", note: str = ""
) -> GoldenQuery:
    """Add a case to the workspace's golden set. Raises ValidationError if the document is not the
    workspace's or the question is empty."""
    case = GoldenQuery(
        workspace=workspace, question=question.strip(), expected_document=expected_document,
        expected_passage=expected_passage.strip(), note=note,
    )  # fmt: skip
    case.full_clean()  # includes GoldenQuery.clean: the document must be the workspace's
    case.save()
    return case
