"""Fair ingestion between workspaces: which queued document a free worker takes next, when a long document
gives its worker up, and where its finished embeddings wait meanwhile.

A Celery message is a *ticket*, not an order: every upload sends one, and the worker that receives it claims
the fairest claimable document, not necessarily the one the message named (``fair_candidates``). The fairest
is the oldest document of the workspace with the fewest documents in progress, ties going to the workspace
served least recently, so one workspace's thousand uploads and another's single file alternate instead of
queueing one behind the other. Because tickets are interchangeable, no ticket has to wait behind the ones in
front of it in the broker for its document to be taken.

That alone bounds another workspace's wait by the time a worker needs for one document. A large document
(up to ``DOCUMENT_MAX_CHUNKS`` chunks) can take many minutes to embed, so it gives its worker up
(``Slice.should_yield``) once it has embedded for ``INGEST_SLICE_SECONDS`` in its turn while a document of
another workspace with nothing in progress has waited ``INGEST_YIELD_WAIT_SECONDS``: the embeddings done so
far are kept (``checkpoint_save``, in the cache, for a day, tagged with the texts and the embedding
configuration), the document goes back to ``queued`` with a new ticket, and it resumes where it stopped
(``checkpoint_load``; extraction and chunking, being deterministic, are redone, outside the slice). A yield
does not count as an attempt.

The scheme is the round-robin scheduling of "fair queuing" (Demers, Keshav & Shenker, SIGCOMM 1989) at the
granularity of documents, with preemption at embedding-batch boundaries.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from documents.embedding_variants import configured_variant
from documents.embeddings import DIMENSIONS
from documents.models import Document, DocumentVersion

logger = logging.getLogger(__name__)

_CHECKPOINT_TTL_SECONDS = 86_400
_YIELD_CHECK_EVERY_SECONDS = 1.0  # a yield check is one small query; a batch of 32 chunks takes ~1-2 s
_HEARTBEAT_MAX_SECONDS = 5.0  # a heartbeat is one small UPDATE


def _table() -> str:
    return Document._meta.db_table


def _active_statuses() -> list[str]:
    return [str(status) for status in Document.ACTIVE_STATUSES]


def fair_candidates(*, limit: int = 5) -> list[int]:
    """Ids of up to ``limit`` claimable documents, fairest first (one per workspace).

    Claimable: ``queued`` with a pending version (and past its ``retry_at`` if a transient error deferred it),
    or in an active stage whose heartbeat is older than ``INGEST_STALE_SECONDS`` (its worker died). Order: the
    workspace's documents in progress (fresh heartbeat), fewest first; then the workspace's latest heartbeat,
    oldest (or none) first, i.e. least recently served; then the document id (first come, first served within
    a workspace and between equals).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    table = _table()
    sql = f"""
        WITH waiting AS (
            SELECT DISTINCT ON (d.workspace_id) d.id, d.workspace_id
            FROM {table} d
            WHERE d.pending_version_id IS NOT NULL
              AND (
                  (d.status = %(queued)s AND (d.retry_at IS NULL OR d.retry_at <= %(now)s))
                  OR (d.status = ANY(%(active)s) AND d.heartbeat_at < %(stale)s)
              )
            ORDER BY d.workspace_id, d.id
        )
        SELECT w.id FROM waiting w
        ORDER BY
            (SELECT count(*) FROM {table} a WHERE a.workspace_id = w.workspace_id
                AND a.status = ANY(%(active)s) AND a.heartbeat_at >= %(stale)s),
            (SELECT max(s.heartbeat_at) FROM {table} s WHERE s.workspace_id = w.workspace_id) NULLS FIRST,
            w.id
        LIMIT %(limit)s
    """
    params: dict[str, Any] = {
        "queued": str(Document.Status.QUEUED),
        "active": _active_statuses(),
        "stale": stale,
        "now": now,
        "limit": limit,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


_UNBATCHED_KINDS = ["image"]  # read by OCR, page after page: seconds each, so never held up in a batch


# small_batch's query: the small documents (``turn``: their place in their workspace's queue), each workspace's
# fairness keys (as in fair_candidates), the round-robin rank, and the running total of bytes.
_SMALL_BATCH_SQL = """
    WITH small AS (
        SELECT * FROM (
            SELECT d.id, d.workspace_id, v.size_bytes,
                   row_number() OVER (PARTITION BY d.workspace_id ORDER BY d.id) AS turn
            FROM {table} d JOIN {versions} v ON v.id = d.pending_version_id
            WHERE d.status = %(queued)s AND (d.retry_at IS NULL OR d.retry_at <= %(now)s) AND d.attempts = 0
              AND v.size_bytes <= %(file_max)s AND v.kind <> ALL(%(unbatched)s)
        ) q WHERE turn <= %(documents)s
    ),
    served AS (
        SELECT w.workspace_id,
               (SELECT count(*) FROM {table} a WHERE a.workspace_id = w.workspace_id
                   AND a.status = ANY(%(active)s) AND a.heartbeat_at >= %(stale)s) AS busy,
               (SELECT max(a.heartbeat_at) FROM {table} a WHERE a.workspace_id = w.workspace_id) AS last
        FROM (SELECT DISTINCT workspace_id FROM small) w
    ),
    ranked AS (
        SELECT s.id, s.size_bytes,
               row_number() OVER (ORDER BY s.id = %(first)s DESC, s.turn, w.busy, w.last NULLS FIRST, s.id) AS rank
        FROM small s JOIN served w ON w.workspace_id = s.workspace_id
    )
    SELECT id FROM (
        SELECT id, rank, sum(size_bytes) OVER (ORDER BY rank) AS bytes FROM ranked
    ) r
    WHERE rank <= %(documents)s AND (bytes <= %(max_bytes)s OR rank = 1)
    ORDER BY rank
"""


def small_batch(*, first_id: int) -> list[int]:
    """Ids of queued small documents to ingest together with ``first_id`` (the fairest candidate), which comes
    first; [] when ``first_id`` is not such a document (too large, an image, no longer queued) or batching is off.

    Small: a pending version of at most ``INGEST_BATCH_FILE_MAX_BYTES`` bytes, not an image, never interrupted
    (``attempts`` = 0: a document whose worker died, which may be what killed it, goes alone, so it cannot take a
    batch of others down with it again). At most
    ``INGEST_BATCH_DOCUMENTS`` documents and ``INGEST_BATCH_MAX_BYTES`` bytes in all, so a batch holds its worker
    for about as long as one ordinary document and another workspace's upload waits no longer than that. The
    batch takes documents round-robin across workspaces (each workspace's oldest first, workspaces in the order
    of ``fair_candidates``: fewest documents in progress, least recently served), so it is as fair as taking
    them one at a time."""
    documents = settings.INGEST_BATCH_DOCUMENTS
    if documents <= 1:
        return []
    now = timezone.now()
    table = _table()
    versions = DocumentVersion._meta.db_table
    sql = _SMALL_BATCH_SQL.format(table=table, versions=versions)
    params: dict[str, Any] = {
        "queued": str(Document.Status.QUEUED),
        "active": _active_statuses(),
        "stale": now - timedelta(seconds=settings.INGEST_STALE_SECONDS),
        "now": now,
        "file_max": settings.INGEST_BATCH_FILE_MAX_BYTES,
        "unbatched": _UNBATCHED_KINDS,
        "first": first_id,
        "documents": documents,
        "max_bytes": settings.INGEST_BATCH_MAX_BYTES,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return ids if ids and ids[0] == first_id else []


def starving_workspace_waits(*, workspace_id: int) -> bool:
    """True when another workspace has a ``queued`` document accepted by the broker at least
    ``INGEST_YIELD_WAIT_SECONDS`` ago and no document of its own in progress: it is waiting for a worker
    that ``workspace_id``'s documents hold."""
    now = timezone.now()
    waited = now - timedelta(seconds=settings.INGEST_YIELD_WAIT_SECONDS)
    stale = now - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    busy = Document.objects.filter(status__in=Document.ACTIVE_STATUSES, heartbeat_at__gte=stale).values("workspace_id")
    deferred = Q(retry_at__gt=now)
    return (
        Document.objects.filter(status=Document.Status.QUEUED, enqueued_at__lte=waited, pending_version__isnull=False)
        .exclude(deferred)
        .exclude(workspace_id=workspace_id)
        .exclude(workspace_id__in=busy)
        .exists()
    )


def heartbeat_seconds() -> float:
    """How often a worker says it is alive while it works on a document: a quarter of ``INGEST_STALE_SECONDS``,
    at most every ``_HEARTBEAT_MAX_SECONDS``, so three heartbeats can be late before the document is stale."""
    return min(_HEARTBEAT_MAX_SECONDS, settings.INGEST_STALE_SECONDS / 4)


class Heartbeat:
    """The sign of life of the worker ingesting ``document_ids`` (one document, or a batch of small ones:
    ``documents.services.ingest_batch``): calling it writes their ``heartbeat_at`` (while they are in an active
    stage, in one UPDATE) when ``heartbeat_seconds()`` have passed since the last write, else does
    nothing, so it can be called as often as convenient (extraction calls it between paragraphs and pages,
    chunking between tokenizer batches). Without it, a document whose extraction and chunking outlast
    ``INGEST_STALE_SECONDS`` would look abandoned and be claimed by a second worker (``fair_candidates``).

    ``clock``: seconds, monotonic (tests drive it). The first write is due ``heartbeat_seconds()`` after
    construction: the claim has just written one."""

    def __init__(self, *document_ids: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.document_ids = list(document_ids)
        self._clock = clock
        self._last = clock()

    def __call__(self) -> None:
        now = self._clock()
        if now - self._last < heartbeat_seconds():
            return
        self._last = now
        Document.objects.filter(pk__in=self.document_ids, status__in=Document.ACTIVE_STATUSES).update(
            heartbeat_at=timezone.now()
        )


class Slice:
    """A document's turn on a worker: ``should_yield()`` says when to give the worker up.

    The turn's clock starts with its first embedding batch (``begin``), not at the claim: every turn redoes
    extraction and chunking, which for a large document can take longer than ``INGEST_SLICE_SECONDS``, and a
    clock started at the claim would let such a document embed one batch per turn while another workspace
    waits. So each turn embeds for at least ``INGEST_SLICE_SECONDS``. ``INGEST_SLICE_SECONDS`` = 0 turns
    yielding off. ``clock``: seconds, monotonic (tests drive it).
    """

    def __init__(self, workspace_id: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.workspace_id = workspace_id
        self._clock = clock
        self.started: float | None = None
        self._checked = 0.0

    def begin(self) -> None:
        """Start the turn's clock (at the first embedding batch); later calls change nothing."""
        if self.started is None:
            self.started = self._checked = self._clock()

    def should_yield(self) -> bool:
        """True once the turn has embedded for ``INGEST_SLICE_SECONDS`` (since ``begin``) and another workspace
        starves (``starving_workspace_waits``); the database is asked at most once a second (or once a slice)."""
        seconds = settings.INGEST_SLICE_SECONDS
        if seconds <= 0 or self.started is None:
            return False
        now = self._clock()
        every = min(seconds, _YIELD_CHECK_EVERY_SECONDS)
        if now - self.started < seconds or now - self._checked < every:
            return False
        self._checked = now
        return starving_workspace_waits(workspace_id=self.workspace_id)


def embedding_fingerprint(variant: str) -> str:
    """What computes embeddings of ``variant`` (``embeddings.effective_variant``'s answer) now: the remote service
    and its model (``EMBEDDING_BASE_URL``, ``EMBEDDING_REMOTE_MODEL``) when it embeds that variant, or this
    process's encoder of it. Embeddings kept by ``checkpoint_save`` are reused only under the same fingerprint."""
    if settings.EMBEDDING_BASE_URL and variant == configured_variant():
        return f"remote {settings.EMBEDDING_BASE_URL} {settings.EMBEDDING_REMOTE_MODEL}"
    return f"local {variant}"


def checkpoint_tag(*, texts: list[str], variant: str) -> str:
    """What a version's kept embeddings are valid for (a hex digest): exactly ``texts``, in this order (the
    pipeline's embedding order), embedded by ``variant`` under the current ``embedding_fingerprint``. A change of the
    extraction, the chunking or the embedding configuration between two turns changes the tag, so old
    vectors are never put on other texts or mixed with another model's."""
    digest = hashlib.sha256(embedding_fingerprint(variant).encode())
    for text in texts:
        encoded = text.encode()
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()


def _checkpoint_key(version_id: int) -> str:
    return f"ingest-checkpoint:{version_id}"


def checkpoint_save(*, version_id: int, tag: str, vectors: np.ndarray) -> bool:
    """Keep the first ``len(vectors)`` embeddings (``(k, 384) float32``, in the pipeline's embedding order) of
    version ``version_id`` for the texts and configuration ``tag`` (``checkpoint_tag``), replacing what was
    kept for the version. Returns False (logged) when the cache is unreachable: the document then starts its
    embeddings again, which costs time, not correctness."""
    data = np.ascontiguousarray(vectors, dtype=np.float32).tobytes()
    try:
        cache.set(_checkpoint_key(version_id), (tag, data), timeout=_CHECKPOINT_TTL_SECONDS)
    except Exception as exc:  # redis-py raises several types; all mean "not kept"
        logger.warning("could not keep the embeddings of version %s (%s); it will embed again", version_id, exc)
        return False
    return True


def checkpoint_load(*, version_id: int, tag: str) -> np.ndarray:
    """The embeddings kept by ``checkpoint_save`` for this version under this ``tag``: ``(k, 384) float32``
    (``k`` = 0 when there are none, they were kept under another tag, or the cache is unreachable)."""
    try:
        kept = cache.get(_checkpoint_key(version_id))
    except Exception as exc:
        logger.warning("could not read the kept embeddings of version %s (%s)", version_id, exc)
        kept = None
    if not (isinstance(kept, tuple) and len(kept) == 2 and kept[0] == tag and kept[1]):
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.frombuffer(kept[1], dtype=np.float32).reshape(-1, DIMENSIONS)


def checkpoint_drop(*, version_id: int) -> None:
    """Forget the embeddings kept for a version: after its chunks are stored, when its document failed, is
    deleted or is queued again from the start (reprocess, retry)."""
    try:
        cache.delete(_checkpoint_key(version_id))
    except Exception as exc:
        logger.warning("could not drop the kept embeddings of version %s (%s); they expire in a day", version_id, exc)
