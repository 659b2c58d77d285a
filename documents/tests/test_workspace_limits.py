"""A workspace's limits (issue 13, finding 7): the settings' defaults unless staff override them for the workspace
in the admin; chunks per workspace (a document that would pass the cap ends ``failed`` with the reason); the
per-document caps of extraction and chunking follow the workspace's values. From the outside: the upload API, a
real Celery worker, the ingestion path, the admin and the Documents page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from accounts.selectors import workspace_get_personal
from documents.limits import WorkspaceLimits, workspace_limits
from documents.models import Chunk, Document, WorkspaceLimitOverride
from documents.services import ingest
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload
from documents.tests import samples
from documents.tests.ingestion import ingest_here, wait_finished

LONG_TEXT = "\n\n".join([samples.REAL_TEXT] * 6)


def _upload(client, name: str, data: bytes, **extra):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


@pytest.mark.django_db
def test_limits_are_the_settings_unless_the_workspace_overrides_them(alice, workspace, settings):
    settings.WORKSPACE_DOCUMENTS_MAX = 11
    settings.WORKSPACE_CHUNKS_MAX = 22
    defaults = workspace_limits(workspace_id=workspace.pk)
    assert defaults.documents_max == 11 and defaults.chunks_max == 22
    assert defaults.storage_max_bytes == settings.WORKSPACE_STORAGE_MAX_BYTES

    WorkspaceLimitOverride.objects.create(workspace=workspace, documents_max=500, document_max_pages=9)

    assert workspace_limits(workspace_id=workspace.pk) == WorkspaceLimits(
        storage_max_bytes=settings.WORKSPACE_STORAGE_MAX_BYTES,
        documents_max=500,
        chunks_max=22,
        document_max_chars=settings.DOCUMENT_MAX_CHARS,
        document_max_pages=9,
        document_max_chunks=settings.DOCUMENT_MAX_CHUNKS,
    )
    other = workspace_get_personal(user=alice)
    assert workspace_limits(workspace_id=other.pk) == defaults  # another workspace keeps the defaults
    settings.WORKSPACE_CHUNKS_MAX = 33  # read at call time
    assert workspace_limits(workspace_id=workspace.pk).chunks_max == 33


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["documents_max", "storage_max_bytes", "chunks_max", "document_max_pages"])
def test_an_override_is_empty_or_at_least_one(workspace, field):
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceLimitOverride.objects.create(workspace=workspace, **{field: 0})
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceLimitOverride.objects.create(workspace=workspace, **{field: -5})
    WorkspaceLimitOverride.objects.create(workspace=workspace, **{field: 1})


@pytest.mark.django_db
def test_an_override_lets_one_workspace_hold_more_documents_through_the_api(
    alice, workspace, api_client_for, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WORKSPACE_DOCUMENTS_MAX = 1
    client = api_client_for(alice)
    assert _upload(client, "1.txt", b"one", workspace=workspace.pk).status_code == 201
    refused = _upload(client, "2.txt", b"two", workspace=workspace.pk)
    assert refused.status_code == 409 and "limit of 1 documents" in refused.json()["detail"]

    WorkspaceLimitOverride.objects.create(workspace=workspace, documents_max=2, storage_max_bytes=10)

    assert _upload(client, "2.txt", b"two", workspace=workspace.pk).status_code == 201
    full = _upload(client, "3.txt", b"three", workspace=workspace.pk)
    assert full.status_code == 409 and "limit of 2 documents" in full.json()["detail"]
    WorkspaceLimitOverride.objects.filter(workspace=workspace).update(documents_max=None)  # back to the default
    assert _upload(client, "3.txt", b"three", workspace=workspace.pk).json()["code"] == "workspace_documents_full"
    WorkspaceLimitOverride.objects.filter(workspace=workspace).update(documents_max=10)
    over = _upload(client, "4.txt", b"12345", workspace=workspace.pk)  # 3 + 3 + 5 bytes > the overridden 10
    assert over.status_code == 413 and over.json()["code"] == "workspace_storage_full"
    assert Document.objects.filter(workspace=workspace).count() == 2
    assert _upload(client, "mine.txt", b"mine").status_code == 201  # alice's own workspace: the default, 1
    assert _upload(client, "more.txt", b"more").status_code == 409


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("overrides", "name", "stage", "words"),
    [
        ({"document_max_chars": 2000}, "long.txt", "extracting", "more than 2,000 characters"),
        ({"document_max_chunks": 2}, "long.txt", "chunking", "more than 2 chunks"),
        ({"document_max_pages": 2}, "three.pdf", "extracting", "3 pages, more than the 2 allowed"),
    ],
)
def test_the_per_document_caps_follow_the_workspace(alice, workspace, tmp_path, overrides, name, stage, words):
    if name.endswith(".pdf"):
        data = samples.make_pdf(tmp_path, [samples.REAL_TEXT] * 3).read_bytes()
    else:
        data = LONG_TEXT.encode()
    WorkspaceLimitOverride.objects.create(workspace=workspace, **overrides)

    capped = ingest_here(workspace, alice, name, data)
    free = ingest_here(workspace_get_personal(user=alice), alice, name, data)  # the defaults apply there

    assert capped.status == "failed" and capped.failed_stage == stage and words in capped.error
    assert not Chunk.objects.filter(document=capped).exists()
    assert free.status == "ready", free.error


@pytest.mark.django_db(transaction=True)
def test_an_override_raises_a_per_document_cap_above_the_setting(alice, workspace, settings):
    settings.DOCUMENT_MAX_CHARS = 2000
    WorkspaceLimitOverride.objects.create(workspace=workspace, document_max_chars=1_000_000)

    assert ingest_here(workspace, alice, "long.txt", LONG_TEXT.encode()).status == "ready"
    refused = ingest_here(workspace_get_personal(user=alice), alice, "long.txt", LONG_TEXT.encode())
    assert refused.status == "failed" and "more than 2,000 characters" in refused.error


@pytest.mark.django_db(transaction=True)
def test_an_ingestion_reads_the_workspace_s_limits_once(alice, workspace):
    file = ContentFile(LONG_TEXT.encode())
    upload = document_upload(workspace=workspace, user=alice, file=file, filename="a.txt", enqueue=False)
    with CaptureQueriesContext(connection) as queries:
        assert document_ingest(document_id=upload.document.pk) == "ready"
    reads = [q["sql"] for q in queries if WorkspaceLimitOverride._meta.db_table in q["sql"]]
    assert len(reads) == 1, reads


@pytest.mark.django_db(transaction=True)
def test_of_two_documents_over_the_chunk_cap_together_the_second_to_store_fails(alice, workspace, monkeypatch):
    """Each document fits alone, so both pass the check after chunking; the first stores its chunks while the
    second is embedding (driven here: the second's embedding step ingests the first, as another worker would),
    and the second is refused when it stores, under the workspace's lock, with the chunking stage's reason."""
    texts = {"first.txt": LONG_TEXT, "second.txt": LONG_TEXT + "\n\nA second copy."}
    elsewhere = workspace_get_personal(user=alice)
    counts = [ingest_here(elsewhere, alice, name, text.encode()).chunk_count for name, text in texts.items()]
    cap = max(counts) + 1  # one fits, both do not
    assert sum(counts) > cap
    WorkspaceLimitOverride.objects.create(workspace=workspace, chunks_max=cap)
    first, second = (
        document_upload(workspace=workspace, user=alice, file=ContentFile(text.encode()), filename=name, enqueue=False)
        for name, text in texts.items()
    )
    embed = ingest._embed

    def embed_while_the_first_is_stored(document: Document, *args: Any) -> Any:
        if document.pk == second.document.pk:
            assert document_ingest(document_id=first.document.pk) == "ready"
        return embed(document, *args)

    monkeypatch.setattr(ingest, "_embed", embed_while_the_first_is_stored)
    assert document_ingest(document_id=second.document.pk) == "failed"

    refused = Document.objects.get(pk=second.document.pk)
    assert refused.failed_stage == "chunking" and f"limit of {cap:,} chunks" in refused.error
    assert not Chunk.objects.filter(document=refused).exists()
    assert Document.objects.get(pk=first.document.pk).status == "ready"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker")
def test_a_document_past_the_workspace_chunk_cap_fails_with_the_reason(alice, workspace, api_client_for):
    """The worker runs in its own process: the workspace's override row (in the database) is what it obeys."""
    client = api_client_for(alice)
    first = wait_finished(_upload(client, "first.txt", LONG_TEXT.encode(), workspace=workspace.pk).json()["id"])
    assert first.status == "ready", first.error
    assert first.chunk_count >= 2
    WorkspaceLimitOverride.objects.create(workspace=workspace, chunks_max=first.chunk_count)  # full now

    second = _upload(client, "second.txt", (LONG_TEXT + "\n\nA second copy.").encode(), workspace=workspace.pk)
    second_doc = wait_finished(second.json()["id"])

    assert second_doc.status == "failed" and second_doc.failed_stage == "chunking"
    assert f"limit of {first.chunk_count:,} chunks" in second_doc.error
    assert not Chunk.objects.filter(document=second_doc).exists()
    shown = client.get(f"/api/v1/documents/{second_doc.pk}/").json()
    assert shown["status"] == "failed" and "Delete documents to make room" in shown["error"]

    # Reprocessing a document replaces its own chunks: they do not count against it.
    assert client.post(f"/api/v1/documents/{first.pk}/reprocess/").status_code == 202
    assert wait_finished(first.pk).status == "ready"

    # Deleting the first document makes room; the failed one goes through when retried.
    assert client.delete(f"/api/v1/documents/{first.pk}/").status_code == 204
    retried = client.post("/api/v1/documents/retry-failed/", {"workspace": workspace.pk}, format="json")
    assert retried.json() == {"queued": 1}
    assert wait_finished(second_doc.pk).status == "ready"


@pytest.mark.django_db
def test_staff_set_a_workspace_s_limits_in_the_admin(client, alice, workspace, settings):
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x"))
    settings.WORKSPACE_DOCUMENTS_MAX = 10

    response = client.post(
        "/admin/documents/workspacelimitoverride/add/",
        {"workspace": workspace.pk, "documents_max": "25000", "chunks_max": "", "storage_max_bytes": ""},
        follow=True,
    )

    assert response.status_code == 200
    override = WorkspaceLimitOverride.objects.get(workspace=workspace)
    assert override.documents_max == 25_000 and override.chunks_max is None
    assert workspace_limits(workspace_id=workspace.pk).documents_max == 25_000
    listing = client.get("/admin/documents/workspacelimitoverride/").content.decode()
    assert "Acme" in listing and "25000" in listing
    change = client.get(f"/admin/documents/workspacelimitoverride/{override.pk}/change/").content.decode()
    assert "documents_max=25,000" in change and "0 of 25,000 documents" in change
    refused = client.post(
        "/admin/documents/workspacelimitoverride/add/",
        {"workspace": workspace_get_personal(user=alice).pk, "documents_max": "0"},
    )
    assert refused.status_code == 200 and WorkspaceLimitOverride.objects.count() == 1  # form errors, no row


@pytest.mark.django_db
def test_the_documents_page_shows_the_workspace_s_own_limits(alice, client_for, api_client_for, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WORKSPACE_DOCUMENTS_MAX = 7
    space = workspace_get_personal(user=alice)
    assert _upload(api_client_for(alice), "a.txt", b"abc").status_code == 201
    WorkspaceLimitOverride.objects.create(workspace=space, documents_max=70, storage_max_bytes=3_000_000_000)

    page = client_for(alice).get(reverse("documents:index")).content.decode()

    assert "This workspace: 1 of 70 documents · 0.00 of 3 GB stored · 0 of 2,000,000 chunks" in page
