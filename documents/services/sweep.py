"""Periodic repair of ingestion (Celery beat, every ``INGEST_SWEEP_SECONDS``): documents the broker never
got, documents whose worker died, and tickets lost on the way (``documents.services.scheduling``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from documents.models import Document
from documents.services.ingest import document_enqueue, document_fail

logger = logging.getLogger(__name__)
Status = Document.Status


def _spare_ticket(waited_since: datetime) -> int:
    """One spare ticket when a queued document has waited since before ``waited_since``: tickets are
    interchangeable (``scheduling``), so one lost with a broker hiccup would otherwise leave a document waiting
    until the visibility timeout. A surplus ticket claims nothing and costs one query. Returns 1 if sent."""
    stuck = Document.objects.filter(status=Status.QUEUED, enqueued_at__lt=waited_since).values_list("pk", flat=True)
    document_id = stuck.first()
    return int(document_id is not None and document_enqueue(document_id=document_id))


def document_sweep() -> dict[str, int]:
    """Periodic repair (Celery beat): enqueue what never reached the broker, rescue what a dead worker left.

    - ``queued`` documents never accepted by the broker (or accepted longer ago than the broker's
      visibility timeout) are enqueued again;
    - documents in an active stage with no heartbeat for ``INGEST_STALE_SECONDS`` are put back to
      ``queued`` and enqueued, or failed with a reason after ``INGEST_MAX_ATTEMPTS`` attempts.

    Returns counts ``{"enqueued": n, "requeued": n, "failed": n}``.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    lost = now - timedelta(seconds=settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))
    counts = {"enqueued": 0, "requeued": 0, "failed": 0}

    stuck = Document.objects.filter(status__in=Document.ACTIVE_STATUSES, heartbeat_at__lt=stale)
    for document in stuck.only("pk", "attempts", "status"):
        if document.attempts >= settings.INGEST_MAX_ATTEMPTS:
            document_fail(
                document_id=document.pk,
                stage=document.status,
                message=(
                    f"The worker stopped responding {document.attempts} times while"
                    f" {document.get_status_display().lower()}; giving up."
                ),
            )
            counts["failed"] += 1
        elif Document.objects.filter(pk=document.pk, status=document.status, heartbeat_at__lt=stale).update(
            status=Status.QUEUED, enqueued_at=None
        ):
            counts["requeued"] += 1

    waiting = Document.objects.filter(status=Status.QUEUED).filter(
        Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=lost)
    )
    for document_id in waiting.values_list("pk", flat=True)[:1000]:
        if document_enqueue(document_id=document_id):
            counts["enqueued"] += 1
    if not counts["enqueued"]:
        counts["enqueued"] += _spare_ticket(now - timedelta(seconds=settings.INGEST_STALE_SECONDS))
    if any(counts.values()):
        logger.info("ingestion sweep: %s", counts)
    return counts
