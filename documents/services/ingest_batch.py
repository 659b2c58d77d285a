"""Small documents ingested together, at the embedding model's full speed.

One document of one or two chunks fills a tenth of an embedding batch and pays a task, a claim and three stage
updates of its own: a worker embedding 1,000 abstracts one by one ran at a quarter of what the model does on the
same texts in one call. So a worker whose fairest document is small (``scheduling.small_batch``) claims up to
``INGEST_BATCH_DOCUMENTS`` small documents at once, round-robin across workspaces (``documents_claim``), extracts and
chunks each, embeds all their chunks together in batches of similar length, then stores them in one transaction
(``store.chunks_replace_many``) in which each document is stored whole or fails alone: each document still becomes
``ready`` or ``failed`` on its own, atomically, and a redelivered ticket finds nothing left to claim. A document read
by OCR, or ``EXTRACT_MAX_SECONDS`` of extraction in all, ends the batch's preparation early (the rest go back to the
queue), so a batch holds its worker about as long as one document. ``IngestBatch`` is that pipeline; the Celery task
(``documents.tasks``) and the evaluation commands (``retrieval.evaluation.load_corpus``) both run it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from documents.embedding_service import EmbeddingServiceError
from documents.embeddings import DIMENSIONS, effective_variant, embed_texts
from documents.limits import WorkspaceLimits, workspace_limits
from documents.models import Document, DocumentVersion
from documents.services.chunk import ChunkDraft
from documents.services.extract import ExtractedText
from documents.services.extracted import document_extracted
from documents.services.ingest import (
    attempts_exhausted,
    claim_fields,
    claimable,
    document_fail,
    document_retry_later,
    document_yield,
    drafts_make,
    ingesting,
    log_ready,
    version_extract,
)
from documents.services.ingest_errors import IngestionFailed
from documents.services.scheduling import Heartbeat
from documents.services.store import StoreItem, chunks_replace_many

logger = logging.getLogger(__name__)
Status = Document.Status


def documents_claim(*, document_ids: list[int]) -> list[Document]:
    """Atomically take those of ``document_ids`` that are claimable (``ingest.claimable``) and not being claimed
    by another worker at this moment (their rows are locked with SKIP LOCKED, so two workers never take the same
    document); the documents taken, with their pending version and workspace, in ``document_ids`` order. Each
    claim counts an attempt, as ``ingest.document_claim``'s does."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Document.objects.select_for_update(skip_locked=True)
            .filter(claimable(now), pk__in=document_ids)
            .exclude(pending_version__isnull=True)
            .values_list("pk", flat=True)
        )
        Document.objects.filter(pk__in=ids).update(**claim_fields(now))
    found = Document.objects.select_related("pending_version", "workspace").in_bulk(ids)
    return [found[pk] for pk in document_ids if pk in found]


@dataclass
class Prepared:
    """A document of a batch extracted and chunked: what its chunks are made of, and its stages' seconds."""

    document: Document
    version: DocumentVersion
    extracted: ExtractedText
    drafts: list[ChunkDraft]
    limits: WorkspaceLimits
    variant: str  # the embedding variant of its workspace's vectors (embeddings.effective_variant)
    timings: dict[str, float] = field(default_factory=dict)


class IngestBatch:
    """The pipeline for claimed documents (``documents_claim``): ``run()`` extracts and chunks each in turn, embeds
    all their chunks together, and stores them in one transaction, each document whole or not at all.

    ``outcomes`` (document id → ``ready``, ``failed``, ``deferred`` or ``yielded``) fills as documents finish, and
    ``current`` is the document being extracted or chunked (None while the batch embeds or stores): when ``run()``
    raises, the caller fails ``current`` and gives the ``unfinished()`` others back to the queue
    (``documents.tasks``).
    Permanent problems of one document (a bad file, no text, no room in its workspace) fail that document alone.
    """

    def __init__(self, documents: list[Document]) -> None:
        self.documents = documents
        self.outcomes: dict[int, str] = {}
        self.current: int | None = None
        self._beat = Heartbeat(*(document.pk for document in documents))
        self._limits: dict[int, WorkspaceLimits] = {}  # by workspace id: read once per batch

    def unfinished(self) -> list[int]:
        """Ids of the claimed documents without an outcome yet."""
        return [document.pk for document in self.documents if document.pk not in self.outcomes]

    def run(self) -> dict[int, str]:
        """Ingest every document: ``prepare``, ``embed_chunks``, ``store``; returns ``outcomes``. Raises what
        ``ingest.document_ingest`` lets through (database errors, the task's time and memory limits, unexpected
        errors) with ``current`` set."""
        prepared = self.prepare()
        if not prepared:
            return self.outcomes
        started = time.perf_counter()
        try:
            vectors = embed_chunks(prepared, on_batch=self._beat)
        except EmbeddingServiceError as exc:
            self.embedding_failed(prepared, exc)
            return self.outcomes
        self.store(prepared, vectors, embed_seconds=time.perf_counter() - started)
        return self.outcomes

    def prepare(self) -> list[Prepared]:
        """Extract and chunk each document in turn (one that fails gets its outcome), then move the others to
        ``embedding`` with their chunk count as the progress total (one UPDATE)."""
        prepared: list[Prepared] = []
        started = time.perf_counter()
        for index, document in enumerate(self.documents):
            item = self._prepare(document)
            if item is not None:
                prepared.append(item)
            if index + 1 < len(self.documents) and self._over_budget(item, started):
                self._give_back(self.documents[index + 1 :])
                break
        Document.objects.filter(pk__in=[p.document.pk for p in prepared], status__in=Document.ACTIVE_STATUSES).update(
            status=Status.EMBEDDING,
            heartbeat_at=timezone.now(),
            progress_done=0,
            progress_total=Case(
                *(When(pk=p.document.pk, then=Value(len(p.drafts))) for p in prepared), output_field=IntegerField()
            ),
        )
        return prepared

    @staticmethod
    def _over_budget(item: Prepared | None, started: float) -> bool:
        """Whether the batch has held its worker long enough before embedding: a document read by OCR (seconds a
        page) or ``EXTRACT_MAX_SECONDS`` of extracting and chunking in all. A batch then takes as long as about one
        document, and a queue of short scans cannot take a worker past the task's time limit together."""
        return (
            item is not None and item.extracted.read_by_ocr
        ) or time.perf_counter() - started > settings.EXTRACT_MAX_SECONDS

    def _give_back(self, documents: list[Document]) -> None:
        """Put documents the batch will not get to back in the queue, with a ticket each and their attempt
        refunded (``ingest.document_yield``)."""
        for document in documents:
            document_yield(document_id=document.pk)
            self.outcomes[document.pk] = "yielded"

    def _fail(self, document_id: int, message: str, stage: str) -> None:
        document_fail(document_id=document_id, message=message, stage=stage)
        self.outcomes[document_id] = Status.FAILED

    def _prepare(self, document: Document) -> Prepared | None:
        """Extract and chunk ``document`` (``ingest.version_extract``, ``ingest.drafts_make``); None when it failed."""
        if attempts_exhausted(document):
            self.outcomes[document.pk] = Status.FAILED
            return None
        version = document.pending_version
        assert version is not None
        self.current = document.pk
        clock = time.perf_counter()
        with ingesting(document.pk):
            limits = self._limits.get(document.workspace_id) or workspace_limits(workspace_id=document.workspace_id)
            self._limits[document.workspace_id] = limits
            try:
                extracted = version_extract(document, version, limits, self._beat)
                document_extracted(document=document, version=version, extracted=extracted)
                extract_seconds = time.perf_counter() - clock
                drafts = drafts_make(document, extracted, limits, self._beat, cap_check=False)  # checked when stored
                if not drafts:
                    raise IngestionFailed("No text could be extracted from this file.", Status.CHUNKING)
            except IngestionFailed as exc:
                self._fail(document.pk, exc.message, exc.stage)
                self.current = None  # failed with its reason: not the culprit of a later error
                return None
        self.current = None
        timings = {"extract": extract_seconds, "chunk": time.perf_counter() - clock - extract_seconds}
        variant = effective_variant(document.workspace.embedding_variant)
        return Prepared(document, version, extracted, drafts, limits, variant, timings)

    def embedding_failed(self, prepared: list[Prepared], exc: EmbeddingServiceError) -> None:
        """The embedding service failed on ``prepared``: defer (transient) or fail them, as one document would be."""
        for item in prepared:
            document_id = item.document.pk
            if not exc.transient:
                self._fail(document_id, f"{exc} Retry the document later.", Status.EMBEDDING)
                continue
            retried = document_retry_later(document_id=document_id, reason=str(exc))
            self.outcomes[document_id] = "deferred" if retried else Status.FAILED

    def store(self, prepared: list[Prepared], vectors: list[np.ndarray], *, embed_seconds: float) -> None:
        """Store every document's chunks in one transaction (``store.chunks_replace_many``: each document whole or
        not at all); a document that was deleted or replaced meanwhile, or has no room left, fails alone."""
        clock = time.perf_counter()
        failed = chunks_replace_many(
            items=[
                StoreItem(p.document, p.version, p.extracted, p.drafts, item_vectors, p.limits, p.variant)
                for p, item_vectors in zip(prepared, vectors, strict=True)
            ]
        )
        store_seconds = time.perf_counter() - clock
        chunks = sum(len(p.drafts) for p in prepared)
        for item in prepared:
            document_id = item.document.pk
            if document_id in failed:
                self._fail(document_id, failed[document_id].message, failed[document_id].stage)
                continue
            share = len(item.drafts) / chunks  # of the batch's embedding and storing
            item.timings.update(embed=embed_seconds * share, store=store_seconds * share)
            note = f" (batch of {len(prepared)})"
            log_ready(document_id=document_id, chunks=len(item.drafts), timings=item.timings, note=note)
            self.outcomes[document_id] = Status.READY


def embed_chunks(prepared: list[Prepared], *, on_batch: Callable[[], object] | None = None) -> list[np.ndarray]:
    """Every prepared document's chunks embedded together (by each one's ``variant``: those of one variant
    together), longest first in batches of ``EMBEDDING_BATCH_SIZE``
    (little padding, as ``SentenceTransformer.encode`` sorts within one call), calling ``on_batch`` after each
    (the heartbeat): one ``(n_i, 384) float32`` array per document, in draft order. Touches no database without
    ``on_batch``, so it can run on a thread of its own. Raises ``EmbeddingServiceError`` (``embed_texts``)."""
    places = [(i, j) for i, p in enumerate(prepared) for j in range(len(p.drafts))]
    places.sort(key=lambda place: (prepared[place[0]].variant, -prepared[place[0]].drafts[place[1]].token_count))
    vectors = [np.zeros((len(p.drafts), DIMENSIONS), dtype=np.float32) for p in prepared]
    size = settings.EMBEDDING_BATCH_SIZE
    for start in range(0, len(places), size):
        batch = places[start : start + size]
        for variant in sorted({prepared[i].variant for i, _ in batch}):  # one, but where two variants meet
            same = [(i, j) for i, j in batch if prepared[i].variant == variant]
            texts = [prepared[i].drafts[j].embed_text for i, j in same]
            for (i, j), vector in zip(same, embed_texts(texts, variant=variant, batch_size=size), strict=True):
                vectors[i][j] = vector
        if on_batch is not None:
            on_batch()
    return vectors
