"""The ingestion pipeline: queued → extracting → chunking → embedding → ready | failed.

Idempotent under retries and redelivery: a worker first *claims* the document with one conditional
UPDATE (only a queued document, or one whose worker stopped sending heartbeats, can be claimed); the new
chunks replace the version's chunks and the previous version's chunks in one transaction, so a document
never has two sets of chunks and stays searchable until the new set is complete.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import F, Q
from django.utils import timezone

from config.logs import log_context_bind
from config.metrics import ingest_failed, ingest_observe
from documents.embedding_service import EmbeddingServiceError
from documents.embeddings import DIMENSIONS, effective_variant, embed_texts
from documents.limits import WorkspaceLimits, workspace_limits
from documents.models import Document, DocumentVersion
from documents.services.chunk import ChunkDraft, chunk_document
from documents.services.extract import ExtractedText, extract
from documents.services.extract_errors import ExtractionError
from documents.services.extracted import document_extracted
from documents.services.ingest_errors import IngestionDeferred, IngestionFailed, IngestionYielded
from documents.services.scheduling import (
    Heartbeat,
    Slice,
    checkpoint_drop,
    checkpoint_load,
    checkpoint_save,
    checkpoint_tag,
)
from documents.services.store import chunk_cap_check, chunks_replace

logger = logging.getLogger(__name__)
Status = Document.Status


def document_enqueue(*, document_id: int, countdown: float = 0) -> bool:
    """Send the ingestion task to the broker (to run in ``countdown`` seconds); record when it was accepted.

    Returns False (and logs) when the broker is unreachable: the document stays ``queued`` and the sweeper
    (``documents.services.sweep``) enqueues it again once the broker is back. Never raises for broker errors.
    """
    from documents.tasks import document_ingest_task

    try:
        # No time limits in the message: Celery would stamp this process's, and the worker's own
        # (CELERY_TASK_*_TIME_LIMIT in the worker's environment) must decide.
        document_ingest_task.apply_async(
            (document_id,), countdown=countdown or None, time_limit=None, soft_time_limit=None
        )
    except Exception as exc:  # kombu/redis raise many types; all mean "not enqueued"
        logger.warning("could not enqueue document %s (%s); the sweeper will retry", document_id, exc)
        return False
    Document.objects.filter(pk=document_id).update(enqueued_at=timezone.now())
    return True


def claimable(now: datetime) -> Q:
    """Documents a worker may claim at ``now``: ``queued`` (and past its ``retry_at``, if deferred), or in an
    active stage with a heartbeat older than ``INGEST_STALE_SECONDS`` (its worker died)."""
    stale = now - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    due = Q(retry_at__isnull=True) | Q(retry_at__lte=now)
    return (Q(status=Status.QUEUED) & due) | Q(status__in=Document.ACTIVE_STATUSES, heartbeat_at__lt=stale)


def claim_fields(now: datetime) -> dict[str, Any]:
    """What a claim writes: the document is ``extracting``, alive, one attempt more, with no error or progress."""
    return {
        "status": Status.EXTRACTING,
        "heartbeat_at": now,
        "attempts": F("attempts") + 1,
        "retry_at": None,
        "error": "",
        "failed_stage": "",
        "progress_done": 0,
        "progress_total": 0,
    }


def document_claim(*, document_id: int) -> Document | None:
    """Atomically take a document for ingestion; None if another worker has it or it needs no work.

    Claimable: see ``claimable``. Each claim counts an attempt.
    """
    now = timezone.now()
    claimed = (
        Document.objects.filter(claimable(now), pk=document_id)
        .exclude(pending_version__isnull=True)
        .update(**claim_fields(now))
    )
    if not claimed:
        return None
    return Document.objects.select_related("pending_version", "workspace").get(pk=document_id)


def stage_set(document: Document, status: str, **fields: object) -> None:
    updated = Document.objects.filter(pk=document.pk, status__in=Document.ACTIVE_STATUSES).update(
        status=status, heartbeat_at=timezone.now(), **fields
    )
    if not updated:
        raise IngestionFailed("The document was deleted or reset while it was being processed.", status)
    document.status = status


def version_extract(
    document: Document, version: DocumentVersion, limits: WorkspaceLimits, beat: Heartbeat
) -> ExtractedText:
    name = version.file.name
    if not name or not default_storage.exists(name):
        raise IngestionFailed("The stored file is missing; upload it again.", Status.EXTRACTING)

    def ocr_progress(done: int, total: int) -> None:  # pages read by OCR: shown as "OCR 12 of 40 pages"
        stage_set(document, Status.EXTRACTING, progress_done=done, progress_total=total)

    caps = {"max_chars": limits.document_max_chars, "max_pages": limits.document_max_pages}
    try:
        try:
            return extract(Path(default_storage.path(name)), version.kind, progress=ocr_progress, tick=beat, **caps)
        except NotImplementedError:  # a remote storage: work on a local copy
            with default_storage.open(name, "rb") as src, tempfile.NamedTemporaryFile() as tmp:
                shutil.copyfileobj(src, tmp)
                tmp.flush()
                return extract(Path(tmp.name), version.kind, progress=ocr_progress, tick=beat, **caps)
    except ExtractionError as exc:
        raise IngestionFailed(exc.message, Status.EXTRACTING) from exc


def drafts_make(
    document: Document, extracted: ExtractedText, limits: WorkspaceLimits, beat: Heartbeat, *, cap_check: bool = True
) -> list[ChunkDraft]:
    """The document's chunk drafts, within the workspace's limits (``documents.limits``): at most
    ``document_max_chunks`` for the document, and at most ``chunks_max`` with the other documents' chunks
    (this document's current chunks are replaced, so they do not count). IngestionFailed past either."""
    try:
        drafts = chunk_document(
            extracted,
            title=document.title,
            target_tokens=settings.CHUNK_TARGET_TOKENS,
            overlap_tokens=settings.CHUNK_OVERLAP_TOKENS,
            max_chunks=limits.document_max_chunks,
            tick=beat,
        )
    except ExtractionError as exc:  # DocumentTooLarge: over the document's chunk limit
        raise IngestionFailed(exc.message, Status.CHUNKING) from exc
    if cap_check:  # early, before the embedding work; again when storing
        chunk_cap_check(document=document, chunks=len(drafts), limits=limits)
    return drafts


def _embed(
    document: Document, version: DocumentVersion, drafts: list[ChunkDraft], turn: Slice | None, variant: str
) -> np.ndarray:
    """Embed the drafts by ``variant`` (``embeddings.effective_variant`` of the workspace's) in batches of similar
    length (as ``SentenceTransformer.encode`` does within one call), so little time goes into padding, writing
    progress after each batch: ``(n, 384) float32`` in draft order.

    Starts after the embeddings a previous turn kept (``scheduling.checkpoint_load``). Raises
    ``IngestionYielded`` (after keeping what is done) when ``turn`` says another workspace starves,
    ``IngestionDeferred`` (after keeping what is done) when the embedding service is unavailable, and
    ``IngestionFailed`` when it answers wrongly."""
    batch = settings.EMBEDDING_BATCH_SIZE
    order = sorted(range(len(drafts)), key=lambda i: -drafts[i].token_count)
    tag = checkpoint_tag(texts=[drafts[i].embed_text for i in order], variant=variant)
    done = checkpoint_load(version_id=version.pk, tag=tag)
    vectors = np.zeros((len(drafts), DIMENSIONS), dtype=np.float32)
    vectors[order[: len(done)]] = done
    start = len(done)
    if start:
        logger.info("document %s resumes embedding at chunk %d of %d", document.pk, start, len(drafts))
        stage_set(document, Status.EMBEDDING, progress_done=start)
    if turn is not None:
        turn.begin()
    while start < len(order):
        indexes = order[start : start + batch]
        try:
            vectors[indexes] = embed_texts([drafts[i].embed_text for i in indexes], variant=variant, batch_size=batch)
        except EmbeddingServiceError as exc:
            if not exc.transient:
                raise IngestionFailed(f"{exc} Retry the document later.", Status.EMBEDDING) from exc
            if start:
                checkpoint_save(version_id=version.pk, tag=tag, vectors=vectors[order[:start]])
            raise IngestionDeferred(str(exc)) from exc
        start += len(indexes)
        stage_set(document, Status.EMBEDDING, progress_done=start)
        if turn is not None and start < len(order) and turn.should_yield():
            checkpoint_save(version_id=version.pk, tag=tag, vectors=vectors[order[:start]])
            raise IngestionYielded(start)
    return vectors


def document_fail(*, document_id: int, message: str, stage: str | None = None) -> None:
    """Move a document to ``failed`` with a reason for the user and the stage it failed in (default:
    the stage it is in now), and forget the embeddings kept for its pending version (``scheduling``)."""
    row = Document.objects.filter(pk=document_id).values_list("status", "pending_version").first()
    status, version_id = row if row is not None else ("", None)
    if stage is None:
        stage = status
    if (
        Document.objects.filter(pk=document_id)
        .exclude(status=Status.READY)
        .update(status=Status.FAILED, error=message[:2000], failed_stage=stage, heartbeat_at=timezone.now())
    ):
        ingest_failed()
    if version_id is not None:
        checkpoint_drop(version_id=version_id)
    logger.warning("document %s failed in %s: %s", document_id, stage, message)


DEFER_FIRST_SECONDS = 10
DEFER_MAX_SECONDS = 300
MAX_DEFERRALS = 20  # 10 s, 20 s, 40 s ... then every 5 min: about 80 minutes of trouble before a document fails


def document_defer(*, document_id: int, reason: str) -> float | None:
    """Put a claimed document back to ``queued`` after a transient error (the database, the broker, the embedding
    service unavailable): not counted as an attempt (``INGEST_MAX_ATTEMPTS`` is for documents whose processing
    fails, not for trouble around them), and not claimable before its ``retry_at``, ``DEFER_FIRST_SECONDS``
    after the first such error of its pending version, doubling up to ``DEFER_MAX_SECONDS``, so tickets do not
    take it again at once (each would redo its extraction and chunking). Embeddings kept for it stay.

    Returns the wait in seconds, for the caller's retry ticket (``DEFER_FIRST_SECONDS`` for a document that is
    not active, e.g. never claimed: it is left as it is); None when the document had ``MAX_DEFERRALS`` such
    errors already and is now failed with ``reason``."""
    deferrals = (
        Document.objects.filter(pk=document_id, status__in=Document.ACTIVE_STATUSES)
        .values_list("deferrals", flat=True)
        .first()
    )
    if deferrals is None:
        return DEFER_FIRST_SECONDS
    if deferrals >= MAX_DEFERRALS:
        document_fail(document_id=document_id, message=f"{reason} It kept failing; retry the document later.")
        return None
    wait = min(DEFER_MAX_SECONDS, DEFER_FIRST_SECONDS * 2**deferrals)
    now = timezone.now()
    Document.objects.filter(pk=document_id, status__in=Document.ACTIVE_STATUSES).update(
        status=Status.QUEUED,
        attempts=F("attempts") - 1,
        deferrals=F("deferrals") + 1,
        retry_at=now + timedelta(seconds=wait),
        heartbeat_at=now,
    )
    logger.warning("document %s deferred for %d s: %s", document_id, wait, reason)
    return wait


def document_retry_later(*, document_id: int, reason: str) -> bool:
    """``document_defer`` and a ticket for the document's retry time; False when it failed instead (too many
    transient errors in a row)."""
    wait = document_defer(document_id=document_id, reason=reason)
    if wait is None:
        return False
    document_enqueue(document_id=document_id, countdown=wait)
    return True


def document_yield(*, document_id: int) -> None:
    """Put a document that gave its worker up (``IngestionYielded``) back to ``queued``, without counting
    the turn as an attempt, and send it a new ticket."""
    Document.objects.filter(pk=document_id, status__in=Document.ACTIVE_STATUSES).update(
        status=Status.QUEUED, attempts=F("attempts") - 1, enqueued_at=None
    )
    document_enqueue(document_id=document_id)


_in_progress: int | None = None


def document_in_progress() -> int | None:
    """The id of the document this process is ingesting now: from its claim until ``document_ingest`` has
    written its outcome; None between documents. A process-wide variable, not a ``contextvars.ContextVar``:
    the memory watchdog reads it from its own thread (``documents.memory``), and a pool process ingests one
    document at a time."""
    return _in_progress


@contextlib.contextmanager
def ingesting(document_id: int) -> Iterator[None]:
    global _in_progress
    previous, _in_progress = _in_progress, document_id
    try:
        yield
    finally:
        _in_progress = previous


def document_ingest(*, document_id: int, may_yield: bool = False) -> str:
    """Run the whole pipeline for one document; returns the final status, ``"skipped"`` (another worker has
    it, or it needs no work) or, with ``may_yield``, ``"yielded"`` (it gave its worker to a starving
    workspace and is queued again: ``documents.services.scheduling``).

    Permanent problems (bad file, no text) end in ``failed`` with the reason. An unavailable embedding service
    defers the document (``document_defer``: ``"deferred"``; it is queued with a ticket for its retry time).
    Other transient errors (database or broker hiccups) propagate, so the task can defer it and retry.
    """
    document = document_claim(document_id=document_id)
    if document is None:
        return "skipped"
    with ingesting(document_id):
        return _ingest_claimed(document, may_yield)


def attempts_exhausted(document: Document) -> bool:
    """True (and the document failed with the reason) when a claimed document has been interrupted more than
    ``INGEST_MAX_ATTEMPTS`` times: its worker keeps dying on it."""
    if document.attempts <= settings.INGEST_MAX_ATTEMPTS:
        return False
    document_fail(
        document_id=document.pk,
        stage=Status.EXTRACTING,
        message=(
            f"Ingestion was interrupted {document.attempts - 1} times; giving up. Retry it when the cause is fixed."
        ),
    )
    return True


def log_ready(*, document_id: int, chunks: int, timings: dict[str, float], note: str = "") -> None:
    """Count a document that became ready (``config.metrics.ingest_observe``) and log it with its stage times."""
    ingest_observe(timings=timings, chunks=chunks)
    stages = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in timings.items())
    logger.info("document %s ready: %d chunks; %s%s", document_id, chunks, stages, note)


def _ingest_claimed(document: Document, may_yield: bool) -> str:
    document_id = document.pk
    log_context_bind(workspace_id=document.workspace_id, document_id=document.pk)
    version = document.pending_version
    assert version is not None
    if attempts_exhausted(document):
        return Status.FAILED
    turn = Slice(document.workspace_id) if may_yield else None
    try:
        chunks, timings = _pipeline(document, version, turn)
    except IngestionFailed as exc:
        document_fail(document_id=document_id, message=exc.message, stage=exc.stage)
        return Status.FAILED
    except IngestionDeferred as exc:
        return "deferred" if document_retry_later(document_id=document_id, reason=exc.reason) else Status.FAILED
    except IngestionYielded as exc:
        logger.info("document %s yields its worker after %d chunks; another workspace waits", document_id, exc.done)
        document_yield(document_id=document_id)
        return "yielded"
    log_ready(document_id=document_id, chunks=chunks, timings=timings)
    return Status.READY


def _pipeline(document: Document, version: DocumentVersion, turn: Slice | None) -> tuple[int, dict[str, float]]:
    """extract → chunk → embed → store; the chunk count and each stage's seconds. Extraction and chunking
    send heartbeats (``scheduling.Heartbeat``); embedding writes one with its progress after each batch."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    beat = Heartbeat(document.pk)
    limits = workspace_limits(workspace_id=document.workspace_id)  # once: extraction, chunking and storing obey it
    extracted = version_extract(document, version, limits, beat)
    if extracted.read_by_ocr:
        turn = None  # a turn redoes extraction: OCR costs far more than the other workspace's wait, so keep the worker
    document_extracted(document=document, version=version, extracted=extracted)
    timings["extract"], clock = time.perf_counter() - clock, time.perf_counter()
    stage_set(document, Status.CHUNKING)
    drafts = drafts_make(document, extracted, limits, beat)
    if not drafts:
        raise IngestionFailed("No text could be extracted from this file.", Status.CHUNKING)
    timings["chunk"], clock = time.perf_counter() - clock, time.perf_counter()
    stage_set(document, Status.EMBEDDING, progress_total=len(drafts), progress_done=0)
    variant = effective_variant(document.workspace.embedding_variant)  # as the workspace's vectors were made
    vectors = _embed(document, version, drafts, turn, variant)
    timings["embed"], clock = time.perf_counter() - clock, time.perf_counter()
    chunks_replace(
        document=document,
        version=version,
        extracted=extracted,
        drafts=drafts,
        vectors=vectors,
        limits=limits,
        variant=variant,
    )
    checkpoint_drop(version_id=version.pk)  # a failure drops it in document_fail; a transient error keeps it
    timings["store"] = time.perf_counter() - clock
    return len(drafts), timings
