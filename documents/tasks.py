"""Celery tasks: thin shells that take ids and call one service.

The worker's process set-up (cores, model warm-up) is ``config.bootstrap``, connected by ``config.celery``.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from config.memory import MemoryCeilingExceeded

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
_DATABASE_TROUBLE = "The database was unavailable while this document was processed."


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def document_ingest_task(self: Task, document_id: int) -> str:
    """A ticket: ingest the fairest claimable document, which need not be ``document_id``
    (``documents.services.scheduling``); after a yield, take the next fairest in the same turn."""
    status = "skipped"
    for _turn in range(_TURNS):
        status = _ingest_fairest(self)
        if status != "yielded":
            break
    return status


_TURNS = 3  # documents one ticket may take after yields (each yield also sends a ticket of its own)
_CLAIM_ROUNDS = 20  # each lost race means another worker took a document: bounded, never spins


def _ingest_fairest(task: Task) -> str:
    """Claim and ingest the fairest document. A candidate another worker took first ("skipped") is no reason
    to give up: the candidates are asked again until one is ours or none is left, so no ticket is lost while
    a document waits."""
    from documents.services.scheduling import fair_candidates

    for _round in range(_CLAIM_ROUNDS):
        candidates = fair_candidates()
        if not candidates:
            break
        for candidate in candidates:
            status = _ingest(task, candidate)
            if status != "skipped":
                return status
    return "skipped"


def _ingest(task: Task, document_id: int) -> str:
    """Ingest one document (``documents.services.ingest.document_ingest``), turning every failure into a
    retry (transient) or a ``failed`` document with a reason."""
    from documents.services.ingest import document_defer, document_fail, document_ingest

    try:
        return document_ingest(document_id=document_id, may_yield=True)
    except TRANSIENT as exc:
        logger.warning("document %s: transient error %s; retrying", document_id, exc)
        connection.close_if_unusable_or_obsolete()  # a broken connection: the next query opens a new one
        try:
            wait = document_defer(document_id=document_id, reason=_DATABASE_TROUBLE)
        except DatabaseError:  # the sweeper rescues it once its heartbeat is stale
            wait = min(300, 10 * 2**task.request.retries)
        if wait is None:
            return "failed"
        raise task.retry(exc=exc, countdown=wait) from exc
    except MemoryCeilingExceeded as exc:  # over INGEST_TASK_MAX_MEMORY_MB (config.memory)
        from documents.memory import document_fail_over_memory

        document_fail_over_memory(document_id=document_id, limit_mb=exc.limit_mb)
        return "failed"
    except SoftTimeLimitExceeded:
        document_fail(document_id=document_id, message="Ingestion took too long and was stopped.")
        return "failed"
    except Exception as exc:
        logger.exception("document %s: unexpected ingestion error", document_id)
        document_fail(
            document_id=document_id,
            message=(
                f"Internal error while processing this document ({type(exc).__name__}). It was logged; retry it later."
            ),
        )
        return "failed"


@shared_task(ignore_result=True)
def document_sweep_task() -> dict[str, int]:
    """Beat: re-enqueue lost documents and rescue ones whose worker died."""
    from documents.services.sweep import document_sweep

    return document_sweep()
