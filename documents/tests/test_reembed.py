"""Embedding variants as data (issue 16 part 2): a workspace records the variant of its vectors, its queries
and new chunks follow it, and re-embedding (``documents.services.reembed``) moves it to another variant in the
background, search answering from the old vectors until one transaction swaps them all."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Workspace
from config.testing import wait_until
from documents.embeddings import embed_query, local_embed_texts
from documents.models import Chunk, Document, ReembedJob, ReembedVector
from documents.services.chunk import stored_embed_texts
from documents.services.reembed import reembed_enqueue, reembed_needed, reembed_slice, reembed_start, reembed_sweep
from documents.tests.ingestion import ingest_here
from retrieval.selectors import search_chunks

TOPICS = {
    "kidneys.txt": "The kidneys filter blood, remove urea and balance salts. Each kidney holds about a million "
    "nephrons, and each nephron has a glomerulus where the filtering happens.",
    "volcanoes.txt": "Volcanoes erupt when magma rises through the crust. Basaltic lava flows quietly, while "
    "silica-rich magma traps gas and explodes, throwing ash high into the stratosphere.",
    "bread.txt": "Sourdough bread rises with wild yeast and lactic acid bacteria. The starter is fed flour and "
    "water each day, and the dough ferments slowly before it is baked in a hot oven.",
}
QUESTION = "How do kidneys filter the blood?"


def _ingest_topics(workspace: Workspace, user, names: list[str]) -> dict[str, int]:
    """Ingest the topics here; their documents' ids by file name."""
    ids = {}
    for name in names:
        document = ingest_here(workspace, user, name, TOPICS[name].encode())
        assert document.status == "ready"
        ids[name] = document.pk
    return ids


def _vectors_are(workspace: Workspace, variant: str) -> bool:
    """Every chunk's stored vector is ``variant``'s vector of what ingestion embedded for it."""
    chunks = list(Chunk.objects.filter(workspace=workspace).select_related("document").order_by("pk"))
    texts = stored_embed_texts([(c.document.title, tuple(c.heading_path), c.text) for c in chunks])
    expected = local_embed_texts(texts, variant=variant)
    stored = np.array([np.asarray(c.embedding, dtype=np.float32) for c in chunks])
    return bool(chunks) and bool(np.all(np.einsum("ij,ij->i", stored, expected) > 1 - 1e-4))


def _postings() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text, lexeme FROM retrieval_posting ORDER BY ctid")
        return cursor.fetchall()


def _top(workspace: Workspace) -> tuple[int, float]:
    """The vector search's best hit for ``QUESTION``: its document's id and cosine."""
    hit = search_chunks(workspace=Workspace.objects.get(pk=workspace.pk), query=QUESTION, k=1, mode="vector")[0]
    return hit.chunk.document_id, hit.score


@pytest.mark.django_db
def test_a_workspace_records_its_first_vectors_variant_and_keeps_it_when_the_setting_changes(alice, settings):
    settings.EMBEDDING_VARIANT = "onnx-int8"
    workspace = Workspace.objects.create(name="variants")
    assert workspace.embedding_variant == ""
    kidneys = _ingest_topics(workspace, alice, ["kidneys.txt"])["kidneys.txt"]
    workspace.refresh_from_db()
    assert workspace.embedding_variant == "onnx-int8" and _vectors_are(workspace, "onnx-int8")

    settings.EMBEDDING_VARIANT = "static"  # another space: nothing mixes silently
    _ingest_topics(workspace, alice, ["volcanoes.txt"])
    workspace.refresh_from_db()
    assert workspace.embedding_variant == "onnx-int8" and _vectors_are(workspace, "onnx-int8")
    assert workspace.pk in reembed_needed()
    stored = np.asarray(Chunk.objects.get(document_id=kidneys).embedding, dtype=np.float32)
    expected = float(embed_query(QUESTION, variant="onnx-int8") @ stored)  # queried by int8 too, not static
    assert _top(workspace) == (kidneys, pytest.approx(expected, abs=1e-4))

    settings.EMBEDDING_VARIANT = "onnx-int8"
    assert workspace.pk not in reembed_needed()


@pytest.mark.django_db
def test_reembedding_swaps_all_vectors_at_once_and_leaves_the_postings_alone(alice, settings):
    settings.EMBEDDING_VARIANT, settings.REEMBED_BATCH_CHUNKS = "onnx-int8", 1
    workspace = Workspace.objects.create(name="swap")
    kidneys = _ingest_topics(workspace, alice, ["kidneys.txt", "volcanoes.txt"])["kidneys.txt"]
    before, postings = _top(workspace), _postings()

    job = reembed_start(workspace_id=workspace.pk, target="static", requested_by="test")
    assert job is not None and job.chunks_total == 2
    assert reembed_start(workspace_id=workspace.pk, target="static") == job  # one unfinished job per workspace
    job = reembed_slice(job.pk, owner="me", chunks=1)
    assert (job.status, job.chunks_done) == ("running", 1)
    assert _top(workspace) == before and _vectors_are(workspace, "onnx-int8")  # search: the old vectors
    assert reembed_slice(job.pk, owner="another run").chunks_done == 1  # my lease holds: it gives way

    _ingest_topics(workspace, alice, ["bread.txt"])  # stored meanwhile: by the old variant, then re-embedded too
    assert Workspace.objects.get(pk=workspace.pk).embedding_variant == "onnx-int8"
    job = reembed_slice(job.pk, owner="me")
    assert (job.status, job.chunks_done, job.chunks_total) == ("done", 3, 3)
    workspace.refresh_from_db()
    assert workspace.embedding_variant == "static" and _vectors_are(workspace, "static")
    assert not ReembedVector.objects.exists()
    assert _top(workspace)[0] == kidneys
    # The swap's UPDATE left every posting row where it was (the statistics trigger skipped it, retrieval 0003).
    assert [p for p in _postings() if p in set(postings)] == postings


@pytest.mark.django_db
def test_a_dead_runs_job_is_taken_over_after_its_lease(alice, settings):
    settings.EMBEDDING_VARIANT, settings.REEMBED_BATCH_CHUNKS = "static", 1
    workspace = Workspace.objects.create(name="lease")
    _ingest_topics(workspace, alice, ["kidneys.txt", "bread.txt"])
    job = reembed_start(workspace_id=workspace.pk, target="onnx-int8")
    assert job is not None
    reembed_slice(job.pk, owner="dead worker", chunks=1)
    assert reembed_slice(job.pk, owner="sweep").chunks_done == 1  # still held
    ReembedJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    job = reembed_slice(job.pk, owner="sweep")
    assert job.status == "done" and _vectors_are(workspace, "onnx-int8")


@pytest.mark.django_db
def test_nothing_to_embed_moves_the_recorded_variant_only(alice, settings):
    settings.EMBEDDING_VARIANT = "torch-bf16"
    empty = Workspace.objects.create(name="empty")
    assert reembed_start(workspace_id=empty.pk, target="static") is None
    assert Workspace.objects.get(pk=empty.pk).embedding_variant == "static"
    full = Workspace.objects.create(name="full")
    _ingest_topics(full, alice, ["kidneys.txt"])
    assert reembed_start(workspace_id=full.pk, target="torch-fp32") is None  # same space: no work
    assert Workspace.objects.get(pk=full.pk).embedding_variant == "torch-fp32"
    with pytest.raises(KeyError):
        reembed_start(workspace_id=full.pk, target="word2vec")


@pytest.mark.django_db
def test_the_command_reembeds_what_a_change_of_variant_left_behind(alice, settings, capsys):
    settings.EMBEDDING_VARIANT = "static"
    workspace = Workspace.objects.create(name="command")
    _ingest_topics(workspace, alice, ["kidneys.txt", "volcanoes.txt"])
    settings.EMBEDDING_VARIANT = "onnx-int8"
    call_command("reembed")
    workspace.refresh_from_db()
    assert workspace.embedding_variant == "onnx-int8" and _vectors_are(workspace, "onnx-int8")
    assert "2 chunks re-embedded by onnx-int8" in capsys.readouterr().out
    call_command("reembed")
    assert "Nothing to re-embed." in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_reembeds_in_slices_while_search_keeps_answering(alice, settings, start_own_worker):
    """The job begins here (one slice), is handed to a worker whose slices chain until the swap; every search
    meanwhile finds the answer by the vectors of the moment, and at the end every chunk is on the new variant."""
    settings.EMBEDDING_VARIANT = "static"
    workspace = Workspace.objects.create(name="worker")
    kidneys = _ingest_topics(workspace, alice, list(TOPICS))["kidneys.txt"]
    worker = start_own_worker({"REEMBED_SLICE_CHUNKS": "1", "REEMBED_BATCH_CHUNKS": "1"})
    job = reembed_start(workspace_id=workspace.pk, target="onnx-int8", requested_by="test")
    assert job is not None
    job = reembed_slice(job.pk, owner="test", chunks=1)
    assert job.chunks_done == 1 and _top(workspace)[0] == kidneys
    assert not reembed_enqueue(job)  # this run holds it: nobody else may queue it
    assert reembed_enqueue(job, owner="test")  # (no transaction: queued at once) a worker goes on, a chunk a slice
    answers = []

    def finished() -> bool:
        answers.append(_top(workspace)[0])
        return ReembedJob.objects.get(pk=job.pk).status == "done"

    wait_until(finished, timeout=120, failure=lambda: f"job not done:\n{worker.log.read_text()[-3000:]}")
    assert set(answers) == {kidneys}
    workspace.refresh_from_db()
    assert workspace.embedding_variant == "onnx-int8" and _vectors_are(workspace, "onnx-int8")
    settings.EMBEDDING_VARIANT = "onnx-int8"
    assert reembed_sweep() == 0  # nothing left behind, nothing stale


@pytest.mark.django_db
def test_the_sweep_starts_jobs_for_workspaces_left_behind_and_requeues_stale_ones(alice, settings):
    settings.EMBEDDING_VARIANT = "static"
    workspace = Workspace.objects.create(name="sweep")
    _ingest_topics(workspace, alice, ["kidneys.txt"])
    settings.EMBEDDING_VARIANT = "onnx-int8"
    with pytest.MonkeyPatch.context() as patch:
        queued: list[tuple[int, str]] = []
        patch.setattr("documents.tasks.reembed_slice_task.delay", lambda job_id, owner: queued.append((job_id, owner)))
        with django_capture_on_commit():
            assert reembed_sweep() == 1
        job = ReembedJob.objects.get(workspace=workspace)
        assert queued == [(job.pk, job.lease_owner)]
        assert job.lease_until is not None and job.lease_until > timezone.now()
        with django_capture_on_commit():
            assert reembed_sweep() == 0  # queued: its lease holds it
        ReembedJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        with django_capture_on_commit():
            assert reembed_sweep() == 1  # its worker died: queued again
        assert len(queued) == 2 and queued[1][1] != queued[0][1]


def django_capture_on_commit():
    """Run ``transaction.on_commit`` callbacks at once (the test's transaction never commits)."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


@pytest.mark.django_db
def test_a_run_that_lost_its_lease_writes_nothing_more(alice, settings):
    settings.EMBEDDING_VARIANT, settings.REEMBED_BATCH_CHUNKS = "static", 1
    workspace = Workspace.objects.create(name="fenced")
    _ingest_topics(workspace, alice, list(TOPICS))
    job = reembed_start(workspace_id=workspace.pk, target="onnx-int8")
    assert job is not None

    def stolen(job: ReembedJob) -> None:  # after the first batch, another run takes the job over
        ReembedJob.objects.filter(pk=job.pk).update(lease_owner="another run")

    job = reembed_slice(job.pk, owner="slow run", on_batch=stolen)
    assert job.lease_owner == "another run" and job.status == "running"
    assert ReembedVector.objects.filter(job=job).count() == 1  # its later batches were fenced off
    assert Workspace.objects.get(pk=workspace.pk).embedding_variant == "static"  # and it never swapped


@pytest.mark.django_db
def test_a_document_deleted_during_a_job_goes_with_its_new_vectors(alice, settings):
    from documents.services.lifecycle import document_delete

    settings.EMBEDDING_VARIANT, settings.REEMBED_BATCH_CHUNKS = "static", 1
    workspace = Workspace.objects.create(name="deleted")
    ids = _ingest_topics(workspace, alice, list(TOPICS))
    job = reembed_start(workspace_id=workspace.pk, target="onnx-int8")
    assert job is not None
    job = reembed_slice(job.pk, owner="me", chunks=1)  # the first chunk, kidneys', has its new vector
    document_delete(document=Document.objects.get(pk=ids["kidneys.txt"]))
    with connection.cursor() as cursor:  # and a row the ORM did not see (written meanwhile) is cascaded too
        cursor.execute(
            "INSERT INTO documents_reembedvector (chunk_id, job_id, embedding) SELECT id, %s, embedding"
            " FROM documents_chunk WHERE document_id = %s",
            [job.pk, ids["bread.txt"]],
        )
    document_delete(document=Document.objects.get(pk=ids["bread.txt"]))
    job = reembed_slice(job.pk, owner="me")
    assert (job.status, job.chunks_total) == ("done", 1) and _vectors_are(workspace, "onnx-int8")
