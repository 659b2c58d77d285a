"""The last step of ingestion: a document's new chunks replace its current ones, in one transaction, within the
workspace's chunk limit (``documents.limits``).

The limit is checked twice: once when the document is chunked (``chunk_cap_check``, to fail early, before
the embedding work) and again here, under a lock of the workspace's row, because other documents of the
workspace may have stored their chunks meanwhile (two documents that each fit would together pass the limit).
"""

from __future__ import annotations

import logging

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from documents.embeddings import DIMENSIONS
from documents.limits import WorkspaceLimits, workspace_chunks_except, workspace_lock
from documents.models import Chunk, Document, DocumentVersion
from documents.search_vector import chunk_insert_sql
from documents.services.chunk import ChunkDraft
from documents.services.extract import ExtractedText
from documents.services.ingest_errors import IngestionFailed

logger = logging.getLogger(__name__)
Status = Document.Status


def chunk_cap_check(*, document: Document, chunks: int, limits: WorkspaceLimits) -> None:
    """Raise ``IngestionFailed`` (stage ``chunking``) when ``chunks`` new chunks of ``document`` and the other
    documents' chunks of its workspace are more than ``limits.chunks_max`` (the document's own current chunks
    are replaced, so they do not count)."""
    others = workspace_chunks_except(workspace_id=document.workspace_id, document_id=document.pk)
    if others + chunks <= limits.chunks_max:
        return
    logger.warning(
        "document %s refused: %d chunks + %d in workspace %s is over its limit of %d",
        document.pk,
        chunks,
        others,
        document.workspace_id,
        limits.chunks_max,
    )
    raise IngestionFailed(
        f"This document makes {chunks:,} chunks and the workspace's other documents hold {others:,}: more"
        f" than the workspace's limit of {limits.chunks_max:,} chunks. Delete documents to make room, then"
        " retry this one.",
        Status.CHUNKING,
    )


@transaction.atomic
def chunks_replace(
    *,
    document: Document,
    version: DocumentVersion,
    extracted: ExtractedText,
    drafts: list[ChunkDraft],
    vectors: np.ndarray,
    limits: WorkspaceLimits,
) -> None:
    """Store ``version``'s extracted text and its chunks (``drafts`` with their ``(n, 384)`` ``vectors``) in place
    of the document's chunks, and make the document ``ready`` with ``version`` current.

    Raises ``IngestionFailed`` when the document was deleted or got another pending version meanwhile, or when
    the workspace has no room left for the chunks (``chunk_cap_check``, under the workspace's lock)."""
    workspace_lock(workspace_id=document.workspace_id)  # before the document's row, as uploads lock them
    locked = Document.objects.select_for_update().filter(pk=document.pk, pending_version=version).first()
    if locked is None:
        raise IngestionFailed("The document was deleted or replaced while it was being processed.", Status.EMBEDDING)
    chunk_cap_check(document=document, chunks=len(drafts), limits=limits)
    version.extracted_text = extracted.text
    version.page_count = len(extracted.pages) or None
    version.page_starts = [page.char_start for page in extracted.pages] or None
    version.ocr = extracted.ocr.as_json() if extracted.ocr else None
    version.save(update_fields=["extracted_text", "page_count", "page_starts", "ocr", "updated_at"])
    Chunk.objects.filter(document=document).delete()  # this version's partial set and the previous version's
    _insert_chunks(document, version, drafts, vectors)
    Document.objects.filter(pk=document.pk).update(
        status=Status.READY,
        current_version=version,
        pending_version=None,
        chunk_count=len(drafts),
        page_count=version.page_count,
        progress_done=len(drafts),
        progress_total=len(drafts),
        ready_at=timezone.now(),
        heartbeat_at=timezone.now(),
        retry_at=None,
        deferrals=0,
        error="",
        failed_stage="",
    )


_LOAD_COLUMNS = "ordinal, text, heading_path, page_start, page_end, char_start, char_end, token_count, embedding"


def _insert_chunks(document: Document, version: DocumentVersion, drafts: list[ChunkDraft], vectors: np.ndarray) -> None:
    """Bulk-load chunks: binary COPY into a temporary table, then one INSERT … SELECT that also computes
    the ``tsvector`` and its token count (``documents.search_vector``: title, heading path and text, in the
    workspace's text search configuration), so every row and its HNSW and GIN index entries are written once.
    About 2x faster than ``bulk_create`` plus an UPDATE of the search column (measured: 0.9 s vs 1.7 s for
    863 chunks)."""
    from pgvector.psycopg import register_vector
    from psycopg.types.json import Jsonb

    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS chunk_load (ordinal int, text text, heading_path jsonb, page_start int,"
            " page_end int, char_start int, char_end int, token_count int,"
            f" embedding vector({DIMENSIONS})) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY chunk_load ({_LOAD_COLUMNS}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "text", "jsonb", "int4", "int4", "int4", "int4", "int4", "vector"])
            for d, vector in zip(drafts, vectors, strict=True):
                copy.write_row(
                    [
                        d.ordinal,
                        d.text,
                        Jsonb(list(d.heading_path)),
                        d.page_start,
                        d.page_end,
                        d.char_start,
                        d.char_end,
                        d.token_count,
                        vector,
                    ]
                )
        columns = {"workspace_id": "%s", "document_id": "%s", "version_id": "%s"}
        columns.update((name, name) for name in _LOAD_COLUMNS.split(", "))
        cursor.execute(
            chunk_insert_sql(source="chunk_load", values=columns, config="%s", title="%s", order_by="ordinal"),
            [document.workspace_id, document.pk, version.pk, document.workspace.text_search_config, document.title],
        )
        cursor.execute("TRUNCATE chunk_load")
