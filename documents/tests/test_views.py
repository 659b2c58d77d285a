"""Document pages (no worker): list, upload fallback, detail, actions, tenancy."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from documents.models import Document
from documents.services.upload import document_upload
from documents.tests import samples

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def document(alice, workspace):
    upload = SimpleUploadedFile("plans.txt", b"Alice's confidential launch plans.")
    return document_upload(workspace=workspace, user=alice, file=upload, filename="plans.txt").document


def _switch(client, workspace) -> None:
    client.post(reverse("accounts:workspace_switch"), {"workspace_id": workspace.pk})


def test_list_shows_status_errors_and_polls_while_active(client, alice, workspace, document):
    client.force_login(alice)
    _switch(client, workspace)
    page = client.get(reverse("documents:index")).content.decode()
    assert "plans" in page and "Queued" in page
    assert 'hx-trigger="every 2s"' in page  # live while something is being ingested
    Document.objects.filter(pk=document.pk).update(
        status="failed", error="This PDF is password-protected.", failed_stage="extracting"
    )
    page = client.get(reverse("documents:index")).content.decode()
    assert "This PDF is password-protected." in page and "Retry all failed (1)" in page
    assert 'hx-trigger="every 2s"' not in page
    failed_only = client.get(reverse("documents:index") + "?status=ready").content.decode()
    assert "plans" not in failed_only


def test_form_upload_reports_each_file(client, alice, tmp_path):
    client.force_login(alice)
    files = [
        SimpleUploadedFile("good.md", b"# Good\n\nSome words."),
        SimpleUploadedFile("locked.pdf", samples.make_encrypted_pdf(tmp_path).read_bytes()),
    ]
    response = client.post(reverse("documents:upload"), {"file": files}, follow=True)
    page = response.content.decode()
    assert "“good” was uploaded and queued" in page
    assert "locked.pdf: This PDF is password-protected" in page
    assert Document.objects.count() == 1


def test_form_upload_too_large(client, alice, settings):
    settings.MAX_UPLOAD_BYTES = 10
    client.force_login(alice)
    response = client.post(reverse("documents:upload"), {"file": SimpleUploadedFile("a.txt", b"x" * 100)}, follow=True)
    assert "larger than the upload limit" in response.content.decode()
    assert not Document.objects.exists()


def test_detail_retry_and_delete(client, alice, document, django_capture_on_commit_callbacks):
    client.force_login(alice)
    Document.objects.filter(pk=document.pk).update(status="failed", error="boom", failed_stage="embedding")
    url = reverse("documents:detail", kwargs={"document_id": document.pk})
    page = client.get(url).content.decode()
    assert "plans.txt" in page and "boom" in page and "Retry" in page
    client.post(reverse("documents:reprocess", kwargs={"document_id": document.pk}))
    document.refresh_from_db()
    assert document.status == "queued" and document.error == ""
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("documents:delete", kwargs={"document_id": document.pk}))
    assert not Document.objects.filter(pk=document.pk).exists()


def test_it_checks_access(client, charlie, workspace, document):
    client.force_login(charlie)
    for name in ("detail", "status"):
        assert client.get(reverse(f"documents:{name}", kwargs={"document_id": document.pk})).status_code == 404
    for name in ("reprocess", "delete", "version_upload"):
        assert client.post(reverse(f"documents:{name}", kwargs={"document_id": document.pk})).status_code == 404
    assert client.get(reverse("api:document_file", kwargs={"document_id": document.pk})).status_code == 404
    listing = client.get(reverse("documents:index")).content.decode()
    assert "plans" not in listing
    assert client.post(reverse("accounts:workspace_switch"), {"workspace_id": workspace.pk}).status_code == 404
    assert Document.objects.filter(pk=document.pk).exists()
