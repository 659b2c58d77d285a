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
    from documents.services.scheduling import fair_candidates, small_batch

    for _round in range(_CLAIM_ROUNDS):
        candidates = fair_candidates()
        if not candidates:
            break
        batch = small_batch(first_id=candidates[0])
        if len(batch) > 1:
            status = _ingest_batch(task, batch)
            if status != "skipped":
                return status
            continue
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
            message=_internal_error(exc),
        )
        return "failed"


def _ingest_batch(task: Task, document_ids: list[int]) -> str:
    """Claim and ingest small documents together (``documents.services.ingest_batch``): ``"batch"``, or
    ``"skipped"`` when another worker took them all. When the batch stops on an error, the document it was on is
    handled as ``_ingest`` would (a transient error defers every unfinished document), and the others go back to
    the queue without losing an attempt (``ingest.document_yield``); an error while the batch embeds fails them all."""
    from documents.services.ingest import document_fail, document_retry_later, document_yield
    from documents.services.ingest_batch import IngestBatch, documents_claim

    try:
        documents = documents_claim(document_ids=document_ids)
    except TRANSIENT as exc:  # nothing was claimed (the claim rolled back): the same ticket comes back
        connection.close_if_unusable_or_obsolete()
        raise task.retry(exc=exc, countdown=min(300, 10 * 2**task.request.retries)) from exc
    if not documents:
        return "skipped"
    batch = IngestBatch(documents)
    try:
        batch.run()
        return "batch"
    except TRANSIENT as exc:
        logger.warning("batch of %d documents: transient error %s; deferring them", len(documents), exc)
        connection.close_if_unusable_or_obsolete()
        for document_id in batch.unfinished():
            try:
                document_retry_later(document_id=document_id, reason=_DATABASE_TROUBLE)
            except DatabaseError:  # the sweeper rescues them once their heartbeat is stale
                break
        return "deferred"
    except MemoryCeilingExceeded as exc:
        from documents.memory import memory_failure_message

        message = memory_failure_message(limit_mb=exc.limit_mb)
    except SoftTimeLimitExceeded:
        message = "Ingestion took too long and was stopped."
    except Exception as exc:
        logger.exception(
            "batch of %d documents: unexpected ingestion error (document %s)", len(documents), batch.current
        )
        message = _internal_error(exc)
    culprits = [batch.current] if batch.current is not None else batch.unfinished()
    for document_id in culprits:
        document_fail(document_id=document_id, message=message)
    for document_id in batch.unfinished():
        if document_id not in culprits:
            document_yield(document_id=document_id)
    return "failed"


def _internal_error(exc: Exception) -> str:
    return f"Internal error while processing this document ({type(exc).__name__}). It was logged; retry it later."


@shared_task(ignore_result=True)
def document_sweep_task() -> dict[str, int]:
    """Beat: re-enqueue lost documents and rescue ones whose worker died."""
    from documents.services.sweep import document_sweep

    return document_sweep()


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def reembed_slice_task(self: Task, job_id: int, owner: str) -> str:
    """One slice of a re-embedding (``documents.services.reembed``); queues the next while work is left, so
    ingestion tickets interleave with a long re-embedding instead of waiting for it."""
    from documents.models import ReembedJob
    from documents.services.reembed import reembed_enqueue, reembed_slice

    try:
        job = reembed_slice(job_id, owner=owner)
    except ReembedJob.DoesNotExist:  # the workspace was deleted
        return "gone"
    if job.status == ReembedJob.Status.RUNNING and job.lease_owner == owner:
        reembed_enqueue(job, owner=owner)
    return job.status


@shared_task(ignore_result=True)
def reembed_sweep_task() -> int:
    """Beat: start re-embedding the workspaces a change of ``EMBEDDING_VARIANT`` left behind; resume jobs whose
    worker died."""
    from documents.services.reembed import reembed_sweep

    return reembed_sweep()
