"""``POST /api/v1/documents/batch/``: many files in one request, one result per file in order; a refused file (in
the API's error shape) does not fail the others; the request limits and the hourly limit still hold."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document
from documents.tests import samples

pytestmark = pytest.mark.django_db

URL = "/api/v1/documents/batch/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _files(*items: tuple[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data) for name, data in items]


def test_one_result_per_file_in_order(alice, workspace, api_client_for):
    client = api_client_for(alice)
    files = _files(
        ("speech.md", b"# The Address\n\n" + samples.REAL_TEXT.encode()),
        ("copy.md", b"# The Address\n\n" + samples.REAL_TEXT.encode()),
        ("program.bin", b"\x7fELF" + bytes(100)),
        ("empty.txt", b""),
        ("tides.txt", b"The tide turns at six."),
    )

    response = client.post(URL, {"file": files, "workspace": workspace.pk}, format="multipart")

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [(r["filename"], r["status"]) for r in results] == [
        ("speech.md", "created"),
        ("copy.md", "duplicate"),
        ("program.bin", "refused"),
        ("empty.txt", "refused"),
        ("tides.txt", "created"),
    ]
    assert results[1]["document"]["id"] == results[0]["document"]["id"] and results[0]["error"] is None
    assert results[2]["document"] is None
    assert results[2]["error"]["code"] == "unsupported_type" and "Linux program" in results[2]["error"]["detail"]
    assert results[3]["error"]["code"] == "empty_file"
    assert Document.objects.filter(workspace=workspace).count() == 2
    assert results[4]["document"]["workspace"] == workspace.pk and results[4]["document"]["status"] == "queued"


def test_each_file_counts_against_the_hourly_limit(alice, api_client_for, settings):
    settings.UPLOADS_PER_USER_PER_HOUR = 2
    client = api_client_for(alice)
    files = _files(*[(f"n{i}.txt", f"Note {i} about the harbour.".encode()) for i in range(4)])

    results = client.post(URL, {"file": files}, format="multipart").json()["results"]

    assert [r["status"] for r in results] == ["created", "created", "refused", "refused"]
    assert {r["error"]["code"] for r in results[2:]} == {"upload_rate_limited"}
    over = client.post(URL, {"file": _files(("late.txt", b"Too late."))}, format="multipart")
    assert over.status_code == 429 and over.json()["code"] == "upload_rate_limited" and over["Retry-After"]


def test_request_limits_and_a_missing_file(alice, api_client_for, settings):
    settings.UPLOAD_REQUEST_MAX_FILES = 3
    client = api_client_for(alice)
    files = _files(*[(f"n{i}.txt", f"Note {i}.".encode()) for i in range(4)])
    response = client.post(URL, {"file": files}, format="multipart")
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"
    assert not Document.objects.exists()

    missing = client.post(URL, {"workspace": alice.personal_workspace.pk}, format="multipart")
    assert missing.status_code == 400 and missing.json()["fields"]["file"]


def test_the_schema_documents_the_batch_pattern(api_client_for, alice):
    schema = api_client_for(alice).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/documents/batch/"]["post"]
    assert "UPLOAD_REQUEST_MAX_FILES" in operation["description"] and "import_documents" in operation["description"]
    ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert body["properties"]["file"]["type"] == "array"


def test_it_checks_access(alice, charlie, workspace, api_client_for):
    response = api_client_for(charlie).post(
        URL, {"file": _files(("x.txt", b"Charlie's note.")), "workspace": workspace.pk}, format="multipart"
    )
    assert response.status_code == 404
    assert not Document.objects.filter(workspace=workspace).exists()
