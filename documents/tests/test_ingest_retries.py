"""Transient trouble around a document (the database, the embedding service) is retried later without counting
against the document's attempts; only a wrong answer fails it (``documents.services.ingest.document_defer``).
In this process, with a real loopback embedding service (``documents.testing``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import OperationalError
from django.utils import timezone

from accounts.selectors import workspace_get_personal
from documents.models import Document
from documents.services.ingest import DEFER_FIRST_SECONDS, MAX_DEFERRALS, document_claim, document_ingest
from documents.services.scheduling import fair_candidates
from documents.services.upload import document_upload
from documents.tasks import document_ingest_task
from documents.testing import FakeEmbeddingService
from documents.tests import samples

Status = Document.Status


def _queued(workspace, user, data: bytes, name: str = "doc.txt") -> Document:
    upload = document_upload(workspace=workspace, user=user, file=ContentFile(data), filename=name, enqueue=False)
    return upload.document


def _wait(document: Document) -> timedelta:
    """How long the document may not be claimed, from when it was deferred."""
    assert document.retry_at is not None and document.heartbeat_at is not None
    return document.retry_at - document.heartbeat_at


def _due_now(document: Document) -> None:
    Document.objects.filter(pk=document.pk).update(retry_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.django_db(transaction=True)  # the task closes a connection it cannot trust: no test transaction
def test_a_transient_database_error_defers_the_document_without_counting_an_attempt(workspace, alice, monkeypatch):
    """The database drops the connection mid-pipeline (the stand-in raises what psycopg would): the document
    waits DEFER_FIRST_SECONDS, then twice that, before any ticket may take it again; its attempts stay 0."""
    document = _queued(workspace, alice, b"Some text.")

    def connection_lost(*args: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("documents.services.ingest._pipeline", connection_lost)
    for deferrals, wait in ((1, DEFER_FIRST_SECONDS), (2, 2 * DEFER_FIRST_SECONDS)):
        with pytest.raises(OperationalError):  # the task's retry (outside a worker, Celery re-raises)
            document_ingest_task.run(document.pk)
        row = Document.objects.get(pk=document.pk)
        assert (row.status, row.attempts, row.deferrals) == (Status.QUEUED, 0, deferrals)
        assert _wait(row) == timedelta(seconds=wait)
        assert fair_candidates() == []  # another ticket does not take it at once
        assert document_claim(document_id=document.pk) is None
        _due_now(document)
        assert fair_candidates() == [document.pk]


@pytest.mark.django_db(transaction=True)
def test_a_document_deferred_too_often_fails_with_the_reason(workspace, alice, monkeypatch):
    document = _queued(workspace, alice, b"Some text.")
    Document.objects.filter(pk=document.pk).update(deferrals=MAX_DEFERRALS)

    def connection_lost(*args: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("documents.services.ingest._pipeline", connection_lost)
    assert document_ingest_task.run(document.pk) == "failed"
    row = Document.objects.get(pk=document.pk)
    assert row.status == Status.FAILED and "database was unavailable" in row.error


@pytest.fixture
def service() -> Iterator[FakeEmbeddingService]:
    fake = FakeEmbeddingService(hang_s=2.0)
    yield fake
    fake.close()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["e500", "hang", "down"])
def test_an_unavailable_embedding_service_defers_the_document(settings, service, workspace, alice, mode):
    settings.EMBEDDING_BASE_URL = service.url("ok" if mode == "down" else mode)
    settings.EMBEDDING_REMOTE_TIMEOUT_S = 1.0
    if mode == "down":
        service.close()  # connection refused
    document = _queued(workspace, alice, b"Some text.")

    assert document_ingest(document_id=document.pk) == "deferred"

    row = Document.objects.get(pk=document.pk)
    assert (row.status, row.attempts, row.deferrals, row.error) == (Status.QUEUED, 0, 1, "")
    assert _wait(row) == timedelta(seconds=DEFER_FIRST_SECONDS)
    assert document_claim(document_id=document.pk) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mode", "reason"),
    [("d256", "returned 256-d vectors"), ("malformed", "is not an embeddings response")],
)
def test_a_wrong_answer_of_the_embedding_service_fails_the_document(settings, service, workspace, alice, mode, reason):
    settings.EMBEDDING_BASE_URL = service.url(mode)
    document = _queued(workspace, alice, b"Some text.")
    assert document_ingest(document_id=document.pk) == Status.FAILED
    row = Document.objects.get(pk=document.pk)
    assert row.status == Status.FAILED and reason in row.error and row.failed_stage == Status.EMBEDDING


@pytest.mark.django_db
def test_a_deferred_document_resumes_with_the_embeddings_it_kept(settings, service, workspace, alice, bob):
    """A long document yields after its first batch (bob's workspace waits), keeping 2 embeddings; then the
    service fails (deferred: still kept); once it is back, only the other chunks are sent to it."""
    settings.EMBEDDING_BATCH_SIZE = 2
    settings.INGEST_SLICE_SECONDS = 1e-9  # yield at the first chance
    long_text = "\n\n".join(f"Paragraph {i}. {samples.REAL_TEXT}" for i in range(3)).encode()
    document = _queued(workspace, alice, long_text)
    waiting = _queued(workspace_get_personal(user=bob), bob, b"Waiting.")
    Document.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))

    settings.EMBEDDING_BASE_URL = service.url("ok")
    assert document_ingest(document_id=document.pk, may_yield=True) == "yielded"
    assert sum(len(body["input"]) for _, body in service.requests) == 2
    Document.objects.filter(pk=waiting.pk).delete()

    settings.EMBEDDING_BASE_URL = service.url("e500")
    assert document_ingest(document_id=document.pk, may_yield=True) == "deferred"

    settings.EMBEDDING_BASE_URL = service.url("ok")
    _due_now(document)
    service.requests.clear()
    assert document_ingest(document_id=document.pk, may_yield=True) == Status.READY
    row = Document.objects.get(pk=document.pk)
    assert sum(len(body["input"]) for _, body in service.requests) == row.chunk_count - 2
    assert (row.attempts, row.deferrals, row.retry_at) == (1, 0, None)
