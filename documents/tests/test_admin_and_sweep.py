"""Admin for documents, and the sweeper's bookkeeping (no worker: the broker only receives messages)."""

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from documents.models import Document
from documents.services.ingest import document_claim
from documents.services.sweep import document_sweep
from documents.services.upload import document_upload

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def document(alice, workspace):
    upload = SimpleUploadedFile("memo.txt", b"A memo about the harbor expansion.")
    return document_upload(workspace=workspace, user=alice, file=upload, filename="memo.txt").document


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x"))
    return client


def test_admin_upload_list_filter_and_actions(staff_client, workspace, document):
    response = staff_client.post(
        "/admin/documents/document/add/",
        {"workspace": workspace.pk, "file": SimpleUploadedFile("new.md", b"# New\n\nText."), "title": "Admin upload"},
        follow=True,
    )
    assert "“Admin upload” was uploaded and queued" in response.content.decode()
    Document.objects.filter(pk=document.pk).update(status="failed", error="The stored file is missing.")
    page = staff_client.get("/admin/documents/document/?status__exact=failed").content.decode()
    assert "memo" in page and "The stored file is missing." in page and "Admin upload" not in page
    staff_client.post(
        "/admin/documents/document/", {"action": "retry_failed", "_selected_action": [document.pk]}, follow=True
    )
    document.refresh_from_db()
    assert document.status == "queued"
    staff_client.post(
        "/admin/documents/document/", {"action": "delete_with_files", "_selected_action": [document.pk]}, follow=True
    )
    assert not Document.objects.filter(pk=document.pk).exists()


def test_the_admin_cannot_move_a_document_to_another_workspace(staff_client, workspace, document, charlie):
    """Issue 13: the change form let staff move a document while its versions and chunks stayed behind."""
    other = charlie.personal_workspace
    Document.objects.filter(pk=document.pk).update(title_from_file=True)  # titled from its file name so far
    page = staff_client.get(f"/admin/documents/document/{document.pk}/change/").content.decode()
    assert 'name="workspace"' not in page  # shown, not editable
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))  # inline management
    form |= {"workspace": str(other.pk), "title": "Renamed"}
    response = staff_client.post(f"/admin/documents/document/{document.pk}/change/", form, follow=True)
    assert "was changed successfully" in response.content.decode()
    document.refresh_from_db()
    assert document.workspace_id == workspace.pk and document.title == "Renamed"
    assert document.title_from_file is False  # typed: ingestion does not replace it with the file's own title


def test_admin_upload_rejection_is_a_message(staff_client, workspace):
    response = staff_client.post(
        "/admin/documents/document/add/",
        {"workspace": workspace.pk, "file": SimpleUploadedFile("e.txt", b"")},
        follow=True,
    )
    assert response.status_code == 200
    assert not Document.objects.exists()


def test_claim_is_exclusive(document):
    assert document_claim(document_id=document.pk) is not None
    assert document_claim(document_id=document.pk) is None  # a redelivered message finds it taken


def test_sweeper_requeues_stale_work_then_gives_up(document, settings):
    settings.INGEST_MAX_ATTEMPTS = 2
    stale = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS + 5)
    Document.objects.filter(pk=document.pk).update(status="embedding", heartbeat_at=stale, attempts=1)
    counts = document_sweep()
    assert counts["requeued"] == 1
    document.refresh_from_db()
    assert document.status == "queued"
    Document.objects.filter(pk=document.pk).update(status="embedding", heartbeat_at=stale, attempts=2)
    assert document_sweep()["failed"] == 1
    document.refresh_from_db()
    assert document.status == "failed" and "stopped responding 2 times" in document.error


def test_sweeper_enqueues_documents_the_broker_never_got(document):
    Document.objects.filter(pk=document.pk).update(enqueued_at=None)
    assert document_sweep()["enqueued"] == 1
    document.refresh_from_db()
    assert document.enqueued_at is not None
    assert document_sweep()["enqueued"] == 0  # already accepted: not sent twice


def test_sweeper_sends_one_spare_ticket_for_a_document_that_waits_too_long(document, settings):
    # Tickets are interchangeable (documents.services.scheduling): one lost in a broker hiccup must not leave a
    # document waiting for the broker's visibility timeout (an hour).
    waited = timezone.now() - timedelta(seconds=settings.INGEST_STALE_SECONDS + 5)
    Document.objects.filter(pk=document.pk).update(enqueued_at=waited)
    assert document_sweep()["enqueued"] == 1
    document.refresh_from_db()
    assert document.enqueued_at is not None and document.enqueued_at > waited
    assert document_sweep()["enqueued"] == 0  # it just got one
