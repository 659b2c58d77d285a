"""Celery tasks: thin shells that take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import celeryd_after_setup, worker_process_init
from django.db import DatabaseError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def document_ingest_task(self, document_id: int) -> str:  # type: ignore[no-untyped-def]
    """Ingest one document (see ``documents.services.ingest.document_ingest``)."""
    from documents.services.ingest import document_fail, document_ingest, document_release

    try:
        return document_ingest(document_id=document_id)
    except TRANSIENT as exc:
        logger.warning("document %s: transient error %s; retrying", document_id, exc)
        try:
            document_release(document_id=document_id)
        except DatabaseError:
            pass  # the sweeper rescues it once its heartbeat is stale
        raise self.retry(exc=exc, countdown=min(300, 5 * 2**self.request.retries)) from exc
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
    from documents.services.ingest import document_sweep

    return document_sweep()


@celeryd_after_setup.connect
def _share_cores(sender: object, instance: object, **kwargs: object) -> None:
    """In the worker's main process, before the pool forks: each pool process gets its share of the cores."""
    from documents.embeddings import share_cores_with

    share_cores_with(int(getattr(instance, "concurrency", 1) or 1))


@worker_process_init.connect
def _warm_up_embedder(**kwargs: object) -> None:
    """Load the embedding model once as each worker process starts, not inside the first task."""
    from django.conf import settings

    if settings.EMBEDDING_PRELOAD_IN_WORKER:
        from documents.embeddings import get_embedder, get_tokenizer

        get_tokenizer()
        get_embedder()
