"""A document whose ingestion went over the memory ceiling per task (``config.memory``,
``INGEST_TASK_MAX_MEMORY_MB``) ends ``failed`` with a reason the user can act on."""

from __future__ import annotations

import logging
from types import FrameType

from django.db import DatabaseError, connection, transaction

logger = logging.getLogger(__name__)


def memory_failure_message(*, limit_mb: int) -> str:
    """What the user reads on the failed document."""
    return (
        f"Processing this document used more than {limit_mb:,} MB of memory, the limit per document, and was"
        " stopped. Split it into smaller files, or ask the operator to raise the limit."
    )


def document_fail_over_memory(*, document_id: int, limit_mb: int) -> None:
    """The task stopped by ``MemoryCeilingExceeded``: fail the document with the memory reason (and log it)."""
    from documents.services.ingest import document_fail

    logger.warning("document %s went over the memory ceiling of %d MB per task", document_id, limit_mb)
    document_fail(document_id=document_id, message=memory_failure_message(limit_mb=limit_mb))


def document_memory_hard_stop(frame: FrameType | None, limit_mb: int) -> None:
    """``config.memory`` hard-stop hook of the ingestion task, run from the watchdog thread just before the
    process is killed: fail the document this process is ingesting (``ingest.document_in_progress``: the one
    it claimed, never a ticket's other document), waiting at most 2 s for a row lock the stopped task may hold
    (the process is killed either way; the sweeper then recovers a document left active). Between documents
    there is nothing to fail. ``frame`` (the stopped thread's) is not needed."""
    from documents.services.ingest import document_in_progress

    document_id = document_in_progress()
    if document_id is None:
        logger.error("memory hard stop: no document in progress")
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            document_fail_over_memory(document_id=document_id, limit_mb=limit_mb)
    except DatabaseError:
        logger.exception("memory hard stop: could not fail document %s", document_id)
    finally:
        connection.close()
