"""Upload validation, lifecycle and tenancy through the REST API (no worker: ingestion is not run here)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.factories import MembershipFactory
from documents.hostile import blank_png
from documents.models import Chunk, Document, DocumentVersion
from documents.tests import samples

pytestmark = pytest.mark.django_db


def _upload(client, name: str, data: bytes, **extra):
    return client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def _media_files(settings) -> list:
    root = settings.MEDIA_ROOT
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_upload_queues_a_document_with_a_random_stored_name(alice, api_client_for):
    response = _upload(
        api_client_for(alice), "Notes on ../../Gettysburg.md", b"# Address\n\n" + samples.REAL_TEXT.encode()
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["created"] is True
    assert body["title"] == "Gettysburg"
    version = DocumentVersion.objects.get(document_id=body["id"])
    assert version.original_filename == "Gettysburg.md"
    assert version.kind == "markdown"
    assert version.file.name and "Gettysburg" not in version.file.name and ".." not in version.file.name
    assert body["workspace"] == alice.personal_workspace.pk


def test_same_bytes_again_returns_the_existing_document(alice, api_client_for):
    client = api_client_for(alice)
    first = _upload(client, "a.txt", samples.REAL_TEXT.encode()).json()
    again = _upload(client, "copy of a.txt", samples.REAL_TEXT.encode())
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["created"] is False
    assert "already in the workspace" in again.json()["message"]
    assert Document.objects.count() == 1


def test_hostile_filename_is_kept_only_as_clean_metadata(alice, api_client_for):
    name = "..\\..\\evil\x07<script>alert(1)</script>.txt"
    body = _upload(api_client_for(alice), name, b"plain words here").json()
    version = DocumentVersion.objects.get(document_id=body["id"])
    assert "\\" not in version.original_filename and "\x07" not in version.original_filename
    assert version.file.name and "/" not in version.file.name.split("uploads/", 1)[1].split("/", 1)[1]


@pytest.mark.parametrize(
    "maker, status, code",
    [
        (lambda d: ("empty.txt", b""), 400, "empty_file"),
        (lambda d: ("pic.pdf", b"GIF89a" + b"\x00" * 100), 415, "unsupported_type"),
        (lambda d: ("pic.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100), 400, "corrupt_file"),
        (lambda d: ("huge.png", blank_png(d / "huge.png", 30_000).read_bytes()), 400, "image_too_large"),
        (lambda d: ("locked.pdf", samples.make_encrypted_pdf(d).read_bytes()), 400, "encrypted_pdf"),
        (lambda d: ("broken.pdf", samples.make_corrupt_pdf(d).read_bytes()), 400, "corrupt_file"),
        (lambda d: ("bomb.docx", samples.make_zip_bomb(d).read_bytes()), 400, "zip_bomb"),
    ],
)
def test_bad_files_get_a_clear_error_and_nothing_is_stored(
    alice, api_client_for, settings, tmp_path, maker, status, code
):
    name, data = maker(tmp_path)
    response = _upload(api_client_for(alice), name, data)
    assert response.status_code == status, response.content
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert _media_files(settings) == []


def test_oversize_upload_is_refused_while_streaming(alice, api_client_for, settings):
    settings.MAX_UPLOAD_BYTES = 100_000
    data = (samples.REAL_TEXT * 200).encode()[:300_000]
    response = _upload(api_client_for(alice), "big.txt", data)
    assert response.status_code == 413
    assert response.json() == {
        "detail": "This file is larger than the upload limit of 0.1 MB.",
        "code": "file_too_large",
    }
    assert not Document.objects.exists() and _media_files(settings) == []


def test_missing_file_field(alice, api_client_for):
    response = api_client_for(alice).post("/api/v1/documents/", {}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["fields"]


def test_list_filters_and_paginates(alice, workspace, api_client_for):
    client = api_client_for(alice)
    for i in range(3):
        _upload(client, f"n{i}.txt", f"note number {i}".encode(), workspace=workspace.pk)
    Document.objects.filter(title="n0").update(status="failed", error="x")
    body = client.get(f"/api/v1/documents/?workspace={workspace.pk}&status=failed").json()
    assert body["count"] == 1 and body["results"][0]["title"] == "n0"
    assert client.get(f"/api/v1/documents/?workspace={workspace.pk}").json()["count"] == 3
    assert client.get("/api/v1/documents/").json()["count"] == 0  # personal workspace by default
    assert client.get("/api/v1/documents/?status=bogus").status_code == 400


def test_new_version_keeps_the_id_and_refuses_identical_bytes(alice, api_client_for):
    client = api_client_for(alice)
    doc = _upload(client, "v.txt", b"first version").json()
    Document.objects.filter(pk=doc["id"]).update(status="ready")
    url = f"/api/v1/documents/{doc['id']}/versions/"
    response = client.post(url, {"file": SimpleUploadedFile("v2.txt", b"second version")}, format="multipart")
    assert response.status_code == 202
    assert response.json()["id"] == doc["id"] and response.json()["pending_version"] == 2
    again = client.post(url, {"file": SimpleUploadedFile("v3.txt", b"second version")}, format="multipart")
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    detail = client.get(f"/api/v1/documents/{doc['id']}/").json()
    assert [v["number"] for v in detail["versions"]] == [2, 1]


def test_delete_removes_rows_and_files(alice, api_client_for, settings, django_capture_on_commit_callbacks):
    client = api_client_for(alice)
    doc = _upload(client, "gone.txt", b"soon gone").json()
    assert len(_media_files(settings)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/documents/{doc['id']}/").status_code == 204
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert _media_files(settings) == []


def test_members_may_not_delete_others_documents(alice, bob, workspace, api_client_for):
    doc = _upload(api_client_for(alice), "mine.txt", b"alice's", workspace=workspace.pk).json()
    response = api_client_for(bob).delete(f"/api/v1/documents/{doc['id']}/")
    assert response.status_code == 403
    assert Document.objects.filter(pk=doc["id"]).exists()


def test_download_original(alice, api_client_for):
    client = api_client_for(alice)
    doc = _upload(client, "orig.txt", b"the original bytes").json()
    response = client.get(f"/api/v1/documents/{doc['id']}/file/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"the original bytes"
    assert 'filename="orig.txt"' in response["Content-Disposition"]


def test_it_checks_access(alice, charlie, workspace, api_client_for):
    doc = _upload(api_client_for(alice), "secret.txt", b"alice's secret plans", workspace=workspace.pk).json()
    client = api_client_for(charlie)
    base = f"/api/v1/documents/{doc['id']}/"
    for method, url in [
        ("get", base),
        ("delete", base),
        ("get", base + "file/"),
        ("get", base + "chunks/"),
        ("post", base + "reprocess/"),
        ("post", base + "versions/"),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 404, (method, url)
        assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert client.get(f"/api/v1/documents/?workspace={workspace.pk}").status_code == 404
    assert client.get("/api/v1/documents/").json()["count"] == 0
    response = _upload(client, "x.txt", b"charlie tries", workspace=workspace.pk)
    assert response.status_code == 404
    assert client.post("/api/v1/documents/retry-failed/", {"workspace": workspace.pk}, format="json").status_code == 404
    assert Document.objects.filter(pk=doc["id"]).exists()


def test_same_bytes_in_another_workspace_is_a_new_document(alice, charlie, api_client_for):
    a = _upload(api_client_for(alice), "same.txt", b"shared public text").json()
    c = _upload(api_client_for(charlie), "same.txt", b"shared public text").json()
    assert a["id"] != c["id"] and c["created"] is True
    assert "alice" not in str(c)


def test_members_of_a_workspace_see_its_documents(alice, workspace, api_client_for):
    erin = MembershipFactory(workspace=workspace).user
    _upload(api_client_for(alice), "team.txt", b"team knowledge", workspace=workspace.pk)
    assert api_client_for(erin).get(f"/api/v1/documents/?workspace={workspace.pk}").json()["count"] == 1
