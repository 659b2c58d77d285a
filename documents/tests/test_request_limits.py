"""Bytes and files per upload request (issue 13, finding 7: "one request may carry 100 files of 25 MB each to temp
disk"): a request over UPLOAD_REQUEST_MAX_BYTES or UPLOAD_REQUEST_MAX_FILES is refused (API 413
``request_too_large``; the page a message) before any of its files is read to memory or disk, and logged."""

from __future__ import annotations

import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.urls import reverse

from documents.models import Document, DocumentVersion

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def temp_files(monkeypatch) -> list[str]:
    """Names of the temporary files Django's upload handlers create while parsing requests (every file part
    goes to disk: FILE_UPLOAD_MAX_MEMORY_SIZE is 0 in these tests)."""
    created: list[str] = []
    real_new_file = TemporaryFileUploadHandler.new_file

    def new_file(self, *args, **kwargs):
        real_new_file(self, *args, **kwargs)
        created.append(self.file.temporary_file_path())

    monkeypatch.setattr(TemporaryFileUploadHandler, "new_file", new_file)
    return created


def _files(count: int, size: int) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(f"part{i}.txt", bytes([65 + i % 26]) * size) for i in range(count)]


def test_an_api_request_over_the_byte_limit_is_refused_before_its_files_are_read(
    alice, api_client_for, settings, temp_files, caplog
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.UPLOAD_REQUEST_MAX_BYTES = 50_000
    client = api_client_for(alice)
    extra = {f"extra{i}": part for i, part in enumerate(_files(3, 20_000))}  # parts the view never uses

    with caplog.at_level(logging.WARNING, logger="documents.uploads"):
        response = client.post(
            "/api/v1/documents/", {"file": SimpleUploadedFile("a.txt", b"a" * 100), **extra}, format="multipart"
        )

    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "request_too_large" and "limit of 0.05 MB per request" in body["detail"]
    assert temp_files == []  # no file part reached the disk
    assert not Document.objects.exists() and not (settings.MEDIA_ROOT).exists()
    assert "upload request refused" in caplog.text
    small = client.post("/api/v1/documents/", {"file": SimpleUploadedFile("a.txt", b"a" * 100)}, format="multipart")
    assert small.status_code == 201  # under the limit the same file goes through


def test_an_api_request_with_too_many_files_is_refused(alice, api_client_for, settings, temp_files):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.UPLOAD_REQUEST_MAX_FILES = 3
    parts = {f"extra{i}": part for i, part in enumerate(_files(10, 10))}

    response = api_client_for(alice).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("a.txt", b"a" * 10), **parts}, format="multipart"
    )

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large" and "more than 3 files" in response.json()["detail"]
    assert len(temp_files) == 3  # parsing stopped at the fourth file part
    assert not Document.objects.exists()


def test_a_new_version_request_over_the_byte_limit_is_refused(alice, api_client_for, settings):
    client = api_client_for(alice)
    doc = client.post("/api/v1/documents/", {"file": SimpleUploadedFile("v.txt", b"v1")}, format="multipart").json()
    Document.objects.filter(pk=doc["id"]).update(status="ready")
    settings.UPLOAD_REQUEST_MAX_BYTES = 10_000

    response = client.post(
        f"/api/v1/documents/{doc['id']}/versions/",
        {"file": SimpleUploadedFile("v2.txt", b"2" * 20_000)},
        format="multipart",
    )

    assert response.status_code == 413 and response.json()["code"] == "request_too_large"
    assert DocumentVersion.objects.count() == 1


def test_the_page_form_refuses_a_request_over_the_limits_with_a_message(
    alice, client_for, settings, temp_files, caplog
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.UPLOAD_REQUEST_MAX_BYTES = 30_000
    client = client_for(alice)

    with caplog.at_level(logging.WARNING, logger="documents.uploads"):
        response = client.post(reverse("documents:upload"), {"file": _files(4, 10_000)}, follow=True)

    page = response.content.decode()
    assert "larger than the limit of 0.03 MB per request; send fewer or smaller files at once" in page
    assert temp_files == [] and not Document.objects.exists()
    assert "upload request refused" in caplog.text

    settings.UPLOAD_REQUEST_MAX_BYTES = 100_000
    settings.UPLOAD_REQUEST_MAX_FILES = 2
    page = client.post(reverse("documents:upload"), {"file": _files(4, 100)}, follow=True).content.decode()
    assert "more than 2 files; send at most 2 at once" in page and not Document.objects.exists()

    page = client.post(reverse("documents:upload"), {"file": _files(2, 100)}, follow=True).content.decode()
    assert Document.objects.count() == 2 and "was uploaded and queued" in page
