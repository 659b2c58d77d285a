"""Small documents ingested together (``documents.services.ingest_batch``, issue 15 part 5): which documents a
batch takes (fairly, on the database), that each document in it still ends ``ready`` or ``failed`` on its own and
atomically, that its vectors are the ones it would get alone, that the task's error handling loses nothing, and
end to end through the API with a real worker."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connections

from accounts.models import User, Workspace
from accounts.tests.factories import UserFactory
from config.testing import wait_until
from documents.models import Chunk, Document, DocumentVersion
from documents.services import ingest as ingest_service
from documents.services.ingest import document_ingest
from documents.services.ingest_batch import IngestBatch, documents_claim
from documents.services.scheduling import fair_candidates, small_batch
from documents.services.upload import document_upload, document_version_upload
from documents.tests import samples
from documents.tests.ingestion import upload
from documents.tests.scans import photo_of_page

Status = Document.Status


def _text(tag: str, paragraphs: int = 1) -> bytes:
    """Real prose, made unique by ``tag`` (about 1.5 KB a paragraph)."""
    return "\n\n".join(f"{tag}, part {i}. {samples.REAL_TEXT}" for i in range(paragraphs)).encode()


def _queued(workspace: Workspace, user: User, name: str, data: bytes) -> int:
    result = document_upload(workspace=workspace, user=user, file=ContentFile(data), filename=name, enqueue=False)
    return result.document.pk


def _personal(user: User) -> Workspace:
    return Workspace.objects.get(personal_for=user)


# --- which documents a batch takes --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_batch_takes_small_documents_round_robin_across_workspaces(alice, bob, settings):
    settings.INGEST_BATCH_DOCUMENTS, settings.INGEST_BATCH_FILE_MAX_BYTES = 64, 4096
    mine, theirs = _personal(alice), _personal(bob)
    a = [_queued(mine, alice, f"a{i}.txt", _text(f"Alice {i}")) for i in range(4)]
    large = _queued(mine, alice, "large.txt", _text("Alice large", paragraphs=4))  # over 4096 bytes
    image = _queued(theirs, bob, "photo.png", photo_of_page())  # read by OCR: never batched
    b = [_queued(theirs, bob, f"b{i}.txt", _text(f"Bob {i}")) for i in range(2)]

    first = fair_candidates()[0]
    assert first == a[0]  # alice's oldest: both workspaces idle, alice's documents came first
    # Alice's oldest, then one each in turn (bob's workspace was served no more recently than alice's).
    assert small_batch(first_id=first) == [a[0], b[0], a[1], b[1], a[2], a[3]]
    assert large not in small_batch(first_id=first) and image not in small_batch(first_id=first)
    assert small_batch(first_id=large) == []  # a large fairest document goes alone

    settings.INGEST_BATCH_DOCUMENTS = 3
    assert small_batch(first_id=first) == [a[0], b[0], a[1]]
    settings.INGEST_BATCH_DOCUMENTS, settings.INGEST_BATCH_MAX_BYTES = 64, 3 * len(_text("Alice 0"))
    assert small_batch(first_id=first) == [a[0], b[0], a[1]]  # the bytes bound the batch too
    settings.INGEST_BATCH_DOCUMENTS = 1
    assert small_batch(first_id=first) == []  # batching off
    settings.INGEST_BATCH_DOCUMENTS = 64
    Document.objects.filter(pk=a[1]).update(attempts=1)  # its worker died on it: it goes alone from now on
    assert a[1] not in small_batch(first_id=first)


@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_documents_another_worker_is_claiming_and_counts_an_attempt(alice):
    workspace = _personal(alice)
    ids = [_queued(workspace, alice, f"d{i}.txt", _text(f"Doc {i}")) for i in range(3)]
    Document.objects.filter(pk=ids[2]).update(status=Status.READY)  # nothing to do for it

    other = connections.create_connection("default")  # another worker, claiming ids[1] at this moment
    try:
        with other.cursor() as locking:
            locking.execute("BEGIN")
            locking.execute(f"SELECT id FROM {Document._meta.db_table} WHERE id = %s FOR UPDATE", [ids[1]])
            claimed = documents_claim(document_ids=ids)
            locking.execute("ROLLBACK")
    finally:
        other.close()

    assert [d.pk for d in claimed] == [ids[0]]
    assert Document.objects.get(pk=ids[0]).status == Status.EXTRACTING and claimed[0].attempts == 1
    assert Document.objects.get(pk=ids[1]).status == Status.QUEUED
    assert documents_claim(document_ids=ids) == [Document.objects.get(pk=ids[1])]  # free now; ids[0] is taken


# --- each document on its own, with its own vectors ----------------------------------------------------------


@pytest.mark.django_db
def test_each_document_of_a_batch_gets_the_chunks_and_vectors_it_would_get_alone(alice):
    workspace = _personal(alice)
    data = [_text(f"Batch {i}", paragraphs=1 + i % 3) for i in range(6)]
    ids = [_queued(workspace, alice, f"b{i}.txt", d) for i, d in enumerate(data)]
    outcomes = IngestBatch(documents_claim(document_ids=ids)).run()
    assert outcomes == dict.fromkeys(ids, Status.READY)

    alone = _personal(UserFactory.create())
    for i, d in enumerate(data):
        single = _queued(alone, alice, f"b{i}.txt", d)  # the same name: the title is embedded with the text
        assert document_ingest(document_id=single) == Status.READY
        batched = list(Chunk.objects.filter(document_id=ids[i]).order_by("ordinal"))
        solo = list(Chunk.objects.filter(document_id=single).order_by("ordinal"))
        assert [(c.ordinal, c.text, c.page_start) for c in batched] == [(c.ordinal, c.text, c.page_start) for c in solo]
        vectors = np.array([c.embedding for c in batched], dtype=np.float32)
        expected = np.array([c.embedding for c in solo], dtype=np.float32)
        assert np.min(np.sum(vectors * expected, axis=1)) > 0.999  # same texts; batch padding aside
    counts = set()
    for document in Document.objects.filter(pk__in=ids):  # each row got its own values from the one UPDATE
        version = DocumentVersion.objects.get(document=document)
        assert document.current_version_id == version.pk and document.pending_version_id is None
        assert document.chunk_count == Chunk.objects.filter(document=document, version=version).count() > 0
        assert (document.progress_done, document.progress_total) == (document.chunk_count, document.chunk_count)
        counts.add(document.chunk_count)
    assert len(counts) == 3  # one, two and three paragraphs: different chunk counts


@pytest.mark.django_db
def test_a_document_that_fails_in_a_batch_fails_alone(alice, settings):
    """One stored file is gone (fails in extraction), one document is over the workspace's chunk limit when the
    batch stores (its limit is counted under the workspace lock, in batch order): both fail with their reasons,
    the others become ready."""
    workspace = _personal(alice)
    ids = [_queued(workspace, alice, f"d{i}.txt", _text(f"Doc {i}")) for i in range(4)]
    stored = DocumentVersion.objects.get(document_id=ids[1]).file.name
    assert stored
    default_storage.delete(stored)
    chunks_each = 2  # one paragraph of the Gettysburg Address with its tag: two chunks (checked below)
    settings.WORKSPACE_CHUNKS_MAX = 2 * chunks_each  # room for two of the three documents that reach storing

    outcomes = IngestBatch(documents_claim(document_ids=ids)).run()

    assert outcomes == {ids[0]: Status.READY, ids[1]: Status.FAILED, ids[2]: Status.READY, ids[3]: Status.FAILED}
    documents = Document.objects.in_bulk(ids)
    assert documents[ids[0]].chunk_count == documents[ids[2]].chunk_count == chunks_each
    assert "The stored file is missing" in documents[ids[1]].error
    assert documents[ids[1]].failed_stage == Status.EXTRACTING
    assert "more than the workspace's limit of 4 chunks" in documents[ids[3]].error
    assert not Chunk.objects.filter(document_id__in=[ids[1], ids[3]]).exists()  # whole or nothing


@pytest.mark.django_db
def test_an_unexpected_error_fails_only_its_document_and_the_others_go_back_to_the_queue(alice, monkeypatch):
    """The task's handling (``documents.tasks._ingest_batch``) of an error that is no document's fault: the
    extraction of one document raises (an injected fault); that document fails with the error named, the others
    of the batch are queued again without losing an attempt, and the next ticket ingests them."""
    from documents import tasks

    workspace = _personal(alice)
    ids = [_queued(workspace, alice, f"d{i}.txt", _text(f"Doc {i}")) for i in range(3)]
    real_extract = ingest_service.version_extract

    def faulty(document, *args, **kwargs):
        if document.pk == ids[1]:
            raise RuntimeError("injected fault")
        return real_extract(document, *args, **kwargs)

    monkeypatch.setattr("documents.services.ingest_batch.version_extract", faulty)

    assert tasks._ingest_batch(None, ids) == "failed"

    documents = Document.objects.in_bulk(ids)
    assert documents[ids[1]].status == Status.FAILED and "RuntimeError" in documents[ids[1]].error
    assert [documents[i].status for i in (ids[0], ids[2])] == [Status.QUEUED, Status.QUEUED]
    assert [documents[i].attempts for i in (ids[0], ids[2])] == [0, 0]
    assert all(documents[i].enqueued_at is not None for i in (ids[0], ids[2]))  # a new ticket each, in the broker
    monkeypatch.undo()
    assert tasks._ingest_batch(None, [ids[0], ids[2]]) == "batch"
    assert tasks._ingest_batch(None, [ids[0], ids[2]]) == "skipped"  # a redelivered ticket finds nothing to do
    assert set(Document.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.READY, Status.FAILED}
    assert Chunk.objects.filter(document_id=ids[0]).count() == Document.objects.get(pk=ids[0]).chunk_count


@pytest.mark.django_db
def test_a_new_version_that_fails_keeps_its_current_chunks_counted(alice, settings):
    """Document A holds its current chunks; its new, larger version fails the workspace's chunk limit in a batch,
    so those chunks stay, and a new document B of the same batch must fit beside them (counting A as replaced
    would let the workspace pass its limit)."""
    workspace = _personal(alice)
    a = _queued(workspace, alice, "a.txt", _text("Alpha"))
    assert document_ingest(document_id=a) == Status.READY
    held = Document.objects.get(pk=a).chunk_count
    document_version_upload(
        document=Document.objects.get(pk=a), user=alice, file=ContentFile(_text("Alpha", 6)), filename="a.txt"
    )
    b = _queued(workspace, alice, "b.txt", _text("Beta"))
    settings.WORKSPACE_CHUNKS_MAX = held + 1  # room for A as it is, not for B beside it, nor for A's new version

    outcomes = IngestBatch(documents_claim(document_ids=[a, b])).run()

    assert outcomes == {a: Status.FAILED, b: Status.FAILED}
    assert Chunk.objects.filter(workspace=workspace).count() == held  # A's current chunks, nothing more
    assert "limit of" in Document.objects.get(pk=b).error


@pytest.mark.django_db
def test_an_error_while_the_batch_embeds_fails_the_unfinished_documents_not_one_already_failed(alice, monkeypatch):
    """The batch's last document failed with its own reason (its file is gone); then embedding raises (an injected
    fault): the other documents fail with the error named, the failed one keeps its reason."""
    from documents import tasks

    workspace = _personal(alice)
    ids = [_queued(workspace, alice, f"d{i}.txt", _text(f"Doc {i}")) for i in range(3)]
    stored = DocumentVersion.objects.get(document_id=ids[2]).file.name
    assert stored
    default_storage.delete(stored)

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")

    monkeypatch.setattr("documents.services.ingest_batch.embed_chunks", broken)

    assert tasks._ingest_batch(None, ids) == "failed"

    documents = Document.objects.in_bulk(ids)
    assert "The stored file is missing" in documents[ids[2]].error
    assert documents[ids[2]].failed_stage == Status.EXTRACTING
    assert all("RuntimeError" in documents[i].error for i in ids[:2])


@pytest.mark.django_db
def test_a_document_read_by_ocr_ends_the_batch_and_the_rest_go_back_to_the_queue(alice, settings):
    """OCR takes seconds a page: after a scan, the batch embeds what it has and gives the rest back (queued, a
    ticket each, no attempt lost), so a queue of short scans cannot hold one worker past its time limit."""
    from documents.tests.scans import image_pdf, require_ocr

    require_ocr()
    settings.INGEST_BATCH_FILE_MAX_BYTES = 10_000_000  # whatever the page image weighs
    workspace = _personal(alice)
    scan = _queued(workspace, alice, "scan.pdf", image_pdf([samples.REAL_TEXT[:600]]))
    later = [_queued(workspace, alice, f"d{i}.txt", _text(f"Doc {i}")) for i in range(2)]
    assert small_batch(first_id=scan) == [scan, *later]  # a small scanned PDF is batched (only images are not)

    outcomes = IngestBatch(documents_claim(document_ids=[scan, *later])).run()

    assert outcomes == {scan: Status.READY, later[0]: "yielded", later[1]: "yielded"}
    for document in Document.objects.filter(pk__in=later):
        assert (document.status, document.attempts) == (Status.QUEUED, 0)
        assert document.enqueued_at is not None  # its new ticket is in the broker


# --- end to end ------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_many_small_uploads_are_ingested_in_fair_batches_by_a_real_worker(alice, bob, api_client_for, start_own_worker):
    """Alice's 13 abstract-sized uploads, then Bob's 3, wait in the queue (the only worker consumes another
    queue meanwhile); a worker taking batches of 8 then ingests them all through its tickets. Documents stored
    together share their ``ready_at`` (one transaction), so the batches are seen from outside: the first holds
    Bob's three with Alice's first five (round-robin; first come, first served would leave Bob's to the end)."""
    start_own_worker({}, queues=["nothing-routed-here"])  # the session's worker is stopped meanwhile
    alice_client, bob_client = api_client_for(alice), api_client_for(bob)
    mine = [upload(alice_client, f"a{i}.txt", _text(f"Alice abstract {i}")) for i in range(13)]
    theirs = [upload(bob_client, f"b{i}.txt", _text(f"Bob abstract {i}")) for i in range(3)]
    every = mine + theirs
    assert Document.objects.filter(pk__in=every, status=Status.QUEUED).count() == len(every)
    start_own_worker({"INGEST_BATCH_DOCUMENTS": "8"})

    def finished() -> bool:
        return not Document.objects.filter(pk__in=every).exclude(status__in=[Status.READY, Status.FAILED]).exists()

    wait_until(finished, timeout=180, failure=lambda: "ingestion did not finish")

    documents = Document.objects.in_bulk(every)
    assert all(d.status == Status.READY for d in documents.values()), [d.error for d in documents.values()]
    for document in documents.values():
        assert document.attempts == 1
        assert document.chunk_count == Chunk.objects.filter(document=document).count() > 0
    batches: dict[datetime, set[int]] = {}
    for document in documents.values():
        assert document.ready_at is not None
        batches.setdefault(document.ready_at, set()).add(document.pk)
    first = batches[min(batches)]
    assert sorted(len(batch) for batch in batches.values()) == [8, 8]
    assert first == {*theirs, *mine[:5]}
