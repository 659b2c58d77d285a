"""Re-embedding a workspace's chunks by another embedding variant, in the background, with search served from
the old vectors until the new ones are complete and swapped in at once.

A ``ReembedJob`` per workspace (at most one unfinished). Each slice (``reembed_slice``) embeds up to
``REEMBED_SLICE_CHUNKS`` chunks that have no new vector yet, by the job's ``target_variant``, into
``ReembedVector`` rows, in batches of ``REEMBED_BATCH_CHUNKS`` (each committed: a crash loses at most one
batch); the workspace's ``embedding_variant`` and its chunks' vectors stay as they were, so search and
ingestion go on in the old variant meanwhile. Chunks stored by ingestion during the job are picked up by later
slices. When none is left, the swap (``_swap``), under the workspace's lock (ingestion stores under it too):
one UPDATE copies every new vector into its chunk, the workspace records the new variant, the rows go. Readers
see the old vectors or the new ones, never a mix (one transaction). The statistics trigger skips that UPDATE
(``retrieval`` migration 0003), so the postings are not rewritten.

A run holds the job by a lease (``lease_owner``, ``lease_until``, renewed each batch): a second run gives way, a
run that lost its lease writes nothing more (each batch is written under the job's row lock, after checking the
lease), and a run that died (a killed worker) is taken over once its lease ends (``reembed_sweep``, periodic).
A database or embedding-service error pauses the job (kept, the lease freed); any other error fails it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from pgvector.psycopg import register_vector

from accounts.models import Workspace
from documents.embedding_service import EmbeddingServiceError
from documents.embedding_variants import configured_variant, get_variant, same_space
from documents.embeddings import embed_texts
from documents.limits import workspace_lock
from documents.models import Chunk, ReembedJob, ReembedVector
from documents.services.chunk import stored_embed_texts

logger = logging.getLogger(__name__)
Status = ReembedJob.Status
# Errors after which a job pauses (kept, to resume) rather than fails: the database or the embedding service.
TRANSIENT = (DatabaseError, EmbeddingServiceError)


def reembed_needed() -> list[int]:
    """Ids of the workspaces whose vectors are of another space than the configured variant's (and that have
    no unfinished job): what a change of ``EMBEDDING_VARIANT`` leaves to re-embed."""
    target = configured_variant()
    busy = ReembedJob.objects.filter(workspace_id=OuterRef("pk"), status__in=ReembedJob.UNFINISHED)
    rows = Workspace.objects.exclude(embedding_variant="").filter(~Exists(busy)).values_list("pk", "embedding_variant")
    return [pk for pk, variant in rows if not same_space(variant, target)]


@transaction.atomic
def reembed_start(*, workspace_id: int, target: str | None = None, requested_by: str = "") -> ReembedJob | None:
    """Start re-embedding the workspace by ``target`` (default: the configured variant). Returns the job (the
    unfinished one if there is one already), or ``None`` when nothing is to embed: the workspace is of
    ``target``'s space already, or has no chunks; its recorded variant is then simply ``target``.

    Raises:
        KeyError: an unknown variant.
        Workspace.DoesNotExist: no such workspace.
    """
    target = target or configured_variant()
    get_variant(target)
    workspace_lock(workspace_id=workspace_id)  # no chunk is stored meanwhile
    workspace = Workspace.objects.get(pk=workspace_id)
    running = ReembedJob.objects.filter(workspace_id=workspace_id, status__in=ReembedJob.UNFINISHED).first()
    if running is not None:
        return running
    current = workspace.embedding_variant
    total = Chunk.objects.filter(workspace_id=workspace_id).count()
    if (current and same_space(current, target)) or not total:
        Workspace.objects.filter(pk=workspace_id).update(embedding_variant=target)
        return None
    job = ReembedJob.objects.create(
        workspace_id=workspace_id,
        target_variant=target,
        source_variant=current,
        chunks_total=total,
        requested_by=requested_by[:150],
    )
    logger.info("re-embedding of workspace %s by %s started (%d chunks)", workspace_id, target, total)
    return job


def reembed_enqueue(job: ReembedJob, *, owner: str = "") -> bool:
    """Queue the job's next slice for a worker (``documents.tasks.reembed_slice_task``), after the commit, if the
    job is free (no live lease) or already ``owner``'s (the chain of slices it continues). The queued slice holds
    the lease, so neither the sweep nor a second run takes the job meanwhile (for ``REEMBED_LEASE_SECONDS``: a
    slice still queued after that may be queued again, and the first of the two to run takes it). Returns whether
    it was queued."""
    from documents.tasks import reembed_slice_task

    chain = owner or uuid.uuid4().hex
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | (Q(lease_owner=owner) if owner else Q(pk=None))
    taken = ReembedJob.objects.filter(free, pk=job.pk, status__in=ReembedJob.UNFINISHED).update(
        lease_owner=chain, lease_until=now + timedelta(seconds=settings.REEMBED_LEASE_SECONDS)
    )
    if taken:
        transaction.on_commit(lambda: reembed_slice_task.delay(job.pk, chain))
    return bool(taken)


def reembed_slice(
    job_id: int, *, owner: str = "", chunks: int | None = None, on_batch: Callable[[ReembedJob], object] | None = None
) -> ReembedJob:
    """Embed up to ``chunks`` (default ``REEMBED_SLICE_CHUNKS``) more of the job's chunks and, when none is left,
    swap. Returns the job as it is afterwards; ``status`` still ``running`` means more slices are needed (the
    run still holds the lease: pass the same ``owner`` to the next slice). ``on_batch(job)`` is called after each
    batch (progress). Another run's live lease: returns at once, unchanged.

    Raises:
        ReembedJob.DoesNotExist: no such job.
    """
    owner = owner or uuid.uuid4().hex
    job = _claim(job_id, owner)
    if job is None:
        return ReembedJob.objects.get(pk=job_id)
    budget, cursor = chunks or settings.REEMBED_SLICE_CHUNKS, 0
    job.chunks_total = Chunk.objects.filter(workspace_id=job.workspace_id).count()
    try:
        while budget > 0:
            embedded, cursor = _embed_batch(job, owner, min(budget, settings.REEMBED_BATCH_CHUNKS), cursor)
            budget -= max(embedded, 1)
            if embedded < 0 or not _progress(job, owner, embedded):  # the lease was lost: another run has it
                break
            if on_batch is not None:
                on_batch(job)
            if embedded == 0 and _swap(job, owner):
                break
    except TRANSIENT as exc:  # kept: the job resumes where it stopped, by this run's next slice or the sweep
        logger.warning("re-embedding of workspace %s paused: %s", job.workspace_id, exc)
        _release(job, owner)
        raise
    except Exception as exc:
        _fail(job, exc)
        raise
    except BaseException:  # Ctrl-C in the command: free the job for the next run at once
        _release(job, owner)
        raise
    job.refresh_from_db()
    return job


def _claim(job_id: int, owner: str) -> ReembedJob | None:
    now = timezone.now()
    claimed = ReembedJob.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner),
        pk=job_id,
        status__in=ReembedJob.UNFINISHED,
    ).update(
        status=Status.RUNNING,
        lease_owner=owner,
        lease_until=now + timedelta(seconds=settings.REEMBED_LEASE_SECONDS),
    )
    if not claimed:
        return None
    job = ReembedJob.objects.get(pk=job_id)
    if job.started_at is None:
        ReembedJob.objects.filter(pk=job_id).update(started_at=now)
        job.started_at = now
    return job


def _missing(job: ReembedJob) -> Q:
    return Q(workspace_id=job.workspace_id) & ~Q(
        Exists(ReembedVector.objects.filter(chunk_id=OuterRef("pk"), job_id=job.pk))
    )


def _embed_batch(job: ReembedJob, owner: str, limit: int, after: int) -> tuple[int, int]:
    """Embed up to ``limit`` chunks without a new vector, by id from ``after`` on (the slice's cursor: each query
    reads on from where the last stopped); ``(how many were stored, the cursor)``; ``-1`` stored when the lease
    was lost. A chunk deleted meanwhile is skipped."""
    rows = list(
        Chunk.objects.filter(_missing(job), pk__gt=after)
        .order_by("pk")
        .values_list("pk", "document__title", "heading_path", "text")[:limit]
    )
    if not rows:
        return 0, after
    texts = stored_embed_texts([(title, tuple(path), text) for _, title, path, text in rows])
    vectors = embed_texts(texts, variant=job.target_variant)  # the remote service too, for its variant
    connection.ensure_connection()
    register_vector(connection.connection)  # numpy rows as vector parameters, as store.py writes them
    try:
        with transaction.atomic():
            if not _holds(job, owner):  # fenced: a run that lost its lease writes nothing
                return -1, after
            with connection.cursor() as cursor:  # the join skips a chunk whose deletion committed
                cursor.execute(
                    """
                    INSERT INTO documents_reembedvector (chunk_id, job_id, embedding)
                    SELECT c.id, %s, v.embedding
                    FROM unnest(%s::bigint[], %s::vector[]) AS v(id, embedding) JOIN documents_chunk AS c ON c.id = v.id
                    ON CONFLICT (chunk_id) DO UPDATE SET job_id = excluded.job_id, embedding = excluded.embedding
                    """,
                    [job.pk, [pk for pk, *_ in rows], list(vectors)],
                )
                stored = cursor.rowcount
    except IntegrityError:  # a chunk deleted while this batch was written: the next batch reads it anew
        return 0, after
    return stored, rows[-1][0]


def _holds(job: ReembedJob, owner: str) -> bool:
    """In a transaction: lock the job's row and tell whether ``owner`` still holds it, running."""
    return ReembedJob.objects.select_for_update().filter(pk=job.pk, status=Status.RUNNING, lease_owner=owner).exists()


def _progress(job: ReembedJob, owner: str, embedded: int) -> bool:
    """Count the batch and renew the lease; ``False`` if ``owner`` no longer holds the job."""
    job.chunks_done += max(embedded, 0)
    return bool(
        ReembedJob.objects.filter(pk=job.pk, lease_owner=owner, status=Status.RUNNING).update(
            chunks_done=job.chunks_done,
            chunks_total=max(job.chunks_total, job.chunks_done),
            lease_until=timezone.now() + timedelta(seconds=settings.REEMBED_LEASE_SECONDS),
        )
    )


def _release(job: ReembedJob, owner: str) -> None:
    ReembedJob.objects.filter(pk=job.pk, lease_owner=owner).update(lease_until=None)


@transaction.atomic
def _swap(job: ReembedJob, owner: str) -> bool:
    """Copy every new vector into its chunk and record the new variant, in one transaction under the
    workspace's lock; ``False`` (nothing changed) if a chunk was stored since the last batch or the lease was
    lost. The side table's rows are taken (deleted) before the chunks' rows are updated: the order in which a
    document's deletion locks them, so the two cannot deadlock."""
    started = time.perf_counter()
    workspace_lock(workspace_id=job.workspace_id)
    if not _holds(job, owner) or Chunk.objects.filter(_missing(job)).exists():
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH moved AS (DELETE FROM documents_reembedvector WHERE job_id = %s RETURNING chunk_id, embedding)
            UPDATE documents_chunk AS c SET embedding = moved.embedding FROM moved WHERE moved.chunk_id = c.id
            """,
            [job.pk],
        )
        swapped = cursor.rowcount
    Workspace.objects.filter(pk=job.workspace_id).update(embedding_variant=job.target_variant)
    ReembedJob.objects.filter(pk=job.pk).update(
        status=Status.DONE, chunks_done=swapped, chunks_total=swapped, finished_at=timezone.now(), lease_until=None
    )
    logger.info(
        "re-embedding of workspace %s by %s done: %d chunks swapped in %.2f s",
        job.workspace_id,
        job.target_variant,
        swapped,
        time.perf_counter() - started,
    )
    return True


def _fail(job: ReembedJob, exc: Exception) -> None:
    logger.exception("re-embedding of workspace %s by %s failed", job.workspace_id, job.target_variant)
    ReembedVector.objects.filter(job_id=job.pk).delete()
    ReembedJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now(), lease_until=None
    )


def reembed_sweep() -> int:
    """Start a job for every workspace a change of the configured variant left behind, and re-queue the
    unfinished jobs nobody holds (a worker died mid-slice). Returns how many slices were queued."""
    for workspace_id in reembed_needed():
        try:
            reembed_start(workspace_id=workspace_id, requested_by="EMBEDDING_VARIANT changed")
        except IntegrityError:  # another sweep started one meanwhile
            continue
    stale = ReembedJob.objects.filter(status__in=ReembedJob.UNFINISHED).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now())
    )
    queued = 0
    for job in stale:  # new jobs, and those whose run died
        with transaction.atomic():
            reembed_enqueue(job)
        queued += 1
    return queued
