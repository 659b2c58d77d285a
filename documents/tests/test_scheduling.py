"""The ingestion's scheduling pieces in this process, with their clocks driven by the test (no timing): the
heartbeat of a slow extraction or chunking, the slice of a document's turn, the kept embeddings
(``documents.services.scheduling``). test_fairness.py checks the fairness end to end with a real worker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.selectors import workspace_get_personal
from documents.embeddings import DIMENSIONS
from documents.models import Document
from documents.services.extract import extract
from documents.services.ingest import document_claim, document_fail, document_ingest
from documents.services.lifecycle import document_delete, document_reprocess
from documents.services.scheduling import (
    Heartbeat,
    Slice,
    checkpoint_drop,
    checkpoint_load,
    checkpoint_save,
    checkpoint_tag,
    fair_candidates,
)
from documents.services.upload import document_upload
from documents.tests import samples

Status = Document.Status


class SteppingClock:
    """A monotonic clock that advances ``step`` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def _long_text(paragraphs: int = 60) -> bytes:
    return "\n\n".join(f"Paragraph {i}. {samples.REAL_TEXT}" for i in range(paragraphs)).encode()


def _queued(workspace, user, data: bytes, name: str = "long.txt") -> Document:
    upload = document_upload(workspace=workspace, user=user, file=ContentFile(data), filename=name, enqueue=False)
    return upload.document


@pytest.mark.django_db
def test_a_long_extraction_keeps_its_document_from_being_claimed_again(workspace, alice, settings):
    """Extraction reads a paragraph every 10 s (the driven clock): its heartbeats keep the document fresh, so
    it is neither offered to another worker nor claimable, though its claim is far older than
    INGEST_STALE_SECONDS."""
    settings.INGEST_STALE_SECONDS = 120
    document = _queued(workspace, alice, _long_text())
    assert document_claim(document_id=document.pk) is not None
    Document.objects.filter(pk=document.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert fair_candidates() == [document.pk]  # what a second worker would see without heartbeats

    path = Path(default_storage.path(str(document.versions.get().file.name)))
    extract(path, "text", tick=Heartbeat(document.pk, clock=SteppingClock(step=10)))

    heartbeat = Document.objects.values_list("heartbeat_at", flat=True).get(pk=document.pk)
    assert heartbeat is not None and heartbeat > timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS)
    assert fair_candidates() == []
    assert document_claim(document_id=document.pk) is None


@pytest.mark.django_db
def test_a_heartbeat_writes_at_most_once_per_interval(workspace, alice, settings):
    settings.INGEST_STALE_SECONDS = 120  # a heartbeat every 5 s at most
    document = _queued(workspace, alice, b"Some text.")
    document_claim(document_id=document.pk)
    clock = SteppingClock(step=1)
    beat = Heartbeat(document.pk, clock=clock)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(12):  # 12 s
            beat()
    assert len(queries) == 2


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_sends_heartbeats_while_extracting_and_chunking(workspace, alice, settings):
    """Every tick is due when INGEST_STALE_SECONDS is 0: the heartbeats the pipeline sends between its stage
    changes are the ones extraction and chunking asked for."""
    settings.INGEST_STALE_SECONDS = 0
    document = _queued(workspace, alice, _long_text())
    with CaptureQueriesContext(connection) as queries:
        assert document_ingest(document_id=document.pk) == Status.READY
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "documents_document" SET')]
    beats = ['SET "heartbeat_at"' in sql for sql in updates]

    def stage(status: str) -> int:  # the position of the stage change to ``status``
        return next(i for i, sql in enumerate(updates) if f"SET \"status\" = '{status}'" in sql)

    assert sum(beats[: stage("chunking")]) > 1, "no heartbeat while extracting"
    assert sum(beats[stage("chunking") : stage("embedding")]) >= 1, "no heartbeat while chunking"


@pytest.mark.django_db
def test_a_turn_embeds_for_a_whole_slice_however_long_its_extraction_took(alice, bob, settings):
    """Each turn redoes extraction and chunking (here 100 s by the driven clock, more than the slice): the
    slice counts from the first embedding batch, so the turn still embeds for INGEST_SLICE_SECONDS before it
    gives its worker to the workspace that waits."""
    settings.INGEST_SLICE_SECONDS = 15
    long = _queued(workspace_get_personal(user=alice), alice, b"A long document.")
    waiting = _queued(workspace_get_personal(user=bob), bob, b"A short one.")
    Document.objects.filter(pk=long.pk).update(status=Status.EMBEDDING, heartbeat_at=timezone.now())
    Document.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    clock = SteppingClock(step=0)
    turn = Slice(long.workspace_id, clock=clock)  # at the claim

    clock.now += 100  # extraction and chunking
    assert not turn.should_yield()
    turn.begin()  # the first embedding batch
    clock.now += 2
    assert not turn.should_yield()
    clock.now += 13
    assert turn.should_yield()  # bob's workspace starves, and the turn has embedded for its slice


def _unit_vectors(n: int) -> np.ndarray:
    vectors = np.random.default_rng(7).standard_normal((n, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_kept_embeddings_are_reused_only_for_the_same_texts_and_embedding_configuration(settings):
    settings.EMBEDDING_VARIANT = "torch-fp32"
    settings.EMBEDDING_BASE_URL = ""
    texts = ["first chunk", "second chunk", "third chunk"]
    vectors = _unit_vectors(2)
    assert checkpoint_save(version_id=-7, tag=checkpoint_tag(texts=texts, variant="torch-fp32"), vectors=vectors)
    assert np.array_equal(
        checkpoint_load(version_id=-7, tag=checkpoint_tag(texts=texts, variant="torch-fp32")), vectors
    )

    def kept(texts: list[str], variant: str = "torch-fp32") -> tuple[int, int]:
        return checkpoint_load(version_id=-7, tag=checkpoint_tag(texts=texts, variant=variant)).shape

    assert kept(texts[:2]) == (0, DIMENSIONS)  # rechunked
    assert kept(texts, "torch-bf16") == (0, DIMENSIONS)  # another precision of the local model
    assert kept(texts, "onnx-int8") == (0, DIMENSIONS)  # another variant
    settings.EMBEDDING_BASE_URL = "http://127.0.0.1:9/v1"  # the remote service embeds the configured variant now
    remote = checkpoint_tag(texts=texts, variant="torch-fp32")
    assert checkpoint_load(version_id=-7, tag=remote).shape == (0, DIMENSIONS)
    settings.EMBEDDING_REMOTE_MODEL = "another/model"
    assert checkpoint_tag(texts=texts, variant="torch-fp32") != remote

    checkpoint_drop(version_id=-7)
    settings.EMBEDDING_BASE_URL = ""
    assert kept(texts) == (0, DIMENSIONS)


def _kept(version_id: int) -> bool:
    """Whether embeddings are kept for the version (saved by the test under the tag "t")."""
    return checkpoint_load(version_id=version_id, tag="t").shape[0] > 0


@pytest.mark.django_db
def test_kept_embeddings_are_dropped_when_the_document_fails_is_deleted_or_starts_again(
    workspace, alice, django_capture_on_commit_callbacks
):
    failing, deleted, again = (_queued(workspace, alice, f"Document {i}.".encode(), f"{i}.txt") for i in range(3))
    version = {document.pk: document.versions.get().pk for document in (failing, deleted, again)}
    for version_id in version.values():
        assert checkpoint_save(version_id=version_id, tag="t", vectors=_unit_vectors(3))

    document_fail(document_id=failing.pk, message="Broken.")
    assert not _kept(version[failing.pk])

    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=deleted)
    assert not _kept(version[deleted.pk])

    Document.objects.filter(pk=again.pk).update(
        status=Status.READY, current_version_id=version[again.pk], pending_version=None
    )
    document_reprocess(document=Document.objects.get(pk=again.pk))
    assert not _kept(version[again.pk])
