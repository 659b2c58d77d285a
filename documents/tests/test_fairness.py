"""Fairness between workspaces (issue 13, finding 7): one workspace's uploads never hold up another's.

The claim order is checked on the database; the yield of a long document and the alternation of a flood
with a single upload are checked end to end through the API and a real Celery worker (concurrency 1, test
settings: ``INGEST_SLICE_SECONDS`` = ``INGEST_YIELD_WAIT_SECONDS`` = 0.2).
"""

from datetime import timedelta

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from config.testing import wait_until
from documents.embeddings import embed_texts
from documents.models import Chunk, Document
from documents.services.chunk import context_prefix
from documents.services.scheduling import fair_candidates, starving_workspace_waits
from documents.tests import samples

Status = Document.Status


def _long_text(paragraphs: int, tag: str) -> bytes:
    """Prose of about 2 chunks per paragraph (each paragraph numbered, so no two chunks are equal)."""
    return "\n\n".join(f"{tag} paragraph {i}. {samples.REAL_TEXT}" for i in range(paragraphs)).encode()


def _upload(client, name: str, data: bytes) -> int:
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _finished(*ids: int) -> bool:
    return not Document.objects.filter(pk__in=ids).exclude(status__in=[Status.READY, Status.FAILED]).exists()


@pytest.mark.django_db
def test_the_workspace_with_fewest_documents_in_progress_goes_first(alice: User, bob: User, api_client_for):
    from documents.services.upload import document_upload

    def upload(user: User, name: str) -> Document:
        workspace = user.memberships.get().workspace
        file = SimpleUploadedFile(name, f"{name}: {samples.REAL_TEXT}".encode())
        return document_upload(workspace=workspace, user=user, file=file, filename=name).document

    flood = [upload(alice, f"a{i}.txt") for i in range(3)]
    single = upload(bob, "b.txt")
    assert fair_candidates() == [flood[0].pk, single.pk]  # nobody in progress: first come, first served

    Document.objects.filter(pk=flood[0].pk).update(status=Status.EMBEDDING, heartbeat_at=timezone.now())
    assert fair_candidates() == [single.pk, flood[1].pk]  # alice's workspace holds a worker

    Document.objects.filter(pk=flood[0].pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert fair_candidates() == [single.pk, flood[0].pk]  # its worker died: claimable again, oldest of its workspace

    Document.objects.filter(pk=flood[0].pk).update(status=Status.READY, heartbeat_at=timezone.now())
    assert fair_candidates() == [single.pk, flood[1].pk]  # alice's workspace was served last


@pytest.mark.django_db
def test_only_a_workspace_without_work_in_progress_that_has_waited_makes_others_yield(alice: User, bob: User):
    from documents.services.upload import document_upload

    def upload(user: User, name: str) -> Document:
        workspace = user.memberships.get().workspace
        file = SimpleUploadedFile(name, f"{name}: {samples.REAL_TEXT}".encode())
        return document_upload(workspace=workspace, user=user, file=file, filename=name).document

    running, waiting = upload(alice, "long.txt"), upload(bob, "short.txt")
    Document.objects.filter(pk=running.pk).update(status=Status.EMBEDDING, heartbeat_at=timezone.now())
    Document.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now())
    assert not starving_workspace_waits(workspace_id=running.workspace_id)  # not waited long enough yet

    Document.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timedelta(minutes=1))
    assert starving_workspace_waits(workspace_id=running.workspace_id)
    assert not starving_workspace_waits(workspace_id=waiting.workspace_id)  # its own waiting is no reason

    other = upload(bob, "other.txt")
    Document.objects.filter(pk=other.pk).update(status=Status.EXTRACTING, heartbeat_at=timezone.now())
    assert not starving_workspace_waits(workspace_id=running.workspace_id)  # bob's workspace has a worker


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_long_document_yields_to_another_workspace_and_resumes_where_it_stopped(alice, bob, api_client_for):
    long_id = _upload(api_client_for(alice), "long.txt", _long_text(200, "Long"))
    wait_until(
        lambda: Document.objects.filter(pk=long_id, status=Status.EMBEDDING, progress_done__gt=0).exists(),
        timeout=60,
        failure=lambda: f"the long document is {Document.objects.get(pk=long_id).status}, not embedding",
    )
    short_id = _upload(api_client_for(bob), "short.txt", samples.REAL_TEXT.encode())
    wait_until(lambda: _finished(long_id, short_id), timeout=180, failure=lambda: "ingestion did not finish")

    long, short = Document.objects.get(pk=long_id), Document.objects.get(pk=short_id)
    assert long.status == short.status == Status.READY, (long.error, short.error)
    assert short.ready_at is not None and long.ready_at is not None
    assert short.ready_at < long.ready_at  # first come would be first served: the long one gave its worker up
    assert long.attempts == 1  # a yield is not an attempt
    chunks = list(Chunk.objects.filter(document=long).order_by("ordinal"))
    assert len(chunks) == long.chunk_count >= 300
    # The kept embeddings went back to their own chunks: each stored vector is its chunk's embedding (a sample
    # across the embedding order, which sorts by length).
    chunks = chunks[:: max(1, len(chunks) // 40)]
    inputs = [context_prefix(long.title, tuple(c.heading_path)) + c.text for c in chunks]
    expected = embed_texts(inputs)
    stored = np.array([c.embedding for c in chunks], dtype=np.float32)
    assert np.min(np.sum(expected * stored, axis=1)) > 0.999


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_flood_of_uploads_does_not_hold_up_another_workspaces_single_upload(alice, bob, api_client_for, settings):
    client = api_client_for(alice)
    files = [_long_text(46, f"Flood {i}") for i in range(8)]
    assert min(map(len, files)) > settings.INGEST_BATCH_FILE_MAX_BYTES  # one at a time: too large for a batch
    flood = [_upload(client, f"flood-{i}.txt", data) for i, data in enumerate(files)]
    waiting_before = Document.objects.filter(pk__in=flood, status=Status.QUEUED).count()
    assert waiting_before >= 4, "the flood was ingested before the single upload: make its documents larger"
    uploaded = timezone.now()
    single = _upload(api_client_for(bob), "single.txt", samples.REAL_TEXT.encode())
    wait_until(lambda: _finished(single, *flood), timeout=180, failure=lambda: "ingestion did not finish")

    ready_at = Document.objects.get(pk=single, status=Status.READY).ready_at
    overtaken = Document.objects.filter(pk__in=flood, ready_at__gt=uploaded, ready_at__lt=ready_at).count()
    # With one worker, at most the flood's document in progress finishes first (first come, first served
    # would make the single upload wait for every queued flood document).
    assert overtaken <= 1, f"{overtaken} flood documents went first"
    assert not Document.objects.filter(pk__in=flood).exclude(status=Status.READY).exists()
