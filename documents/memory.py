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
    process is killed: fail the document in progress (found on the stopped task's stack), waiting at most
    2 s for a row lock the stopped task may hold (the process is killed either way; the sweeper then
    recovers a document left active)."""
    document_id = _document_in_progress(frame)
    if document_id is None:
        logger.error("memory hard stop: no document in progress on the task's stack")
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


def _document_in_progress(frame: FrameType | None) -> int | None:
    """The ``document_id`` of the innermost ``documents.tasks`` function on the stack: the id the task's
    ``except MemoryCeilingExceeded`` clause would have failed (a ticket's task may ingest another document
    than its message names)."""
    while frame is not None:
        value = frame.f_locals.get("document_id")
        if frame.f_globals.get("__name__") == "documents.tasks" and isinstance(value, int):
            return value
        frame = frame.f_back
    return None
