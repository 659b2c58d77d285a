"""A full media disk (found by the fault drills, ``manage.py fault_drills --only disk``): the upload is refused with
a clear 507 in the API's error shape, and nothing of it is kept (no document, no half-written file). Before, the
user got a bare 500 and the partly written file stayed on the disk. A real full filesystem: a 64 KiB tmpfs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Document, DocumentVersion
from documents.services.upload import STORAGE_FULL

pytestmark = pytest.mark.django_db


@pytest.fixture
def full_disk(settings, tmp_path) -> Iterator[Path]:
    """``MEDIA_ROOT`` on a 64 KiB tmpfs (needs root on Linux; skipped elsewhere)."""
    media = tmp_path / "media"
    media.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(media)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    settings.MEDIA_ROOT = media
    try:
        yield media
    finally:
        subprocess.run(["umount", str(media)], check=True)


def test_an_upload_to_a_full_disk_is_refused_clearly_and_leaves_nothing(alice, api_client_for, full_disk):
    text = b"".join(b"Line %d of a document too large for the disk left.\n" % i for i in range(3000))  # ~150 kB
    response = api_client_for(alice).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("big.txt", text)}, format="multipart"
    )
    assert response.status_code == 507, response.content
    assert response.json() == {"detail": STORAGE_FULL, "code": "storage_full"}
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert [p for p in full_disk.rglob("*") if p.is_file()] == []  # the half-written file was removed

    small = api_client_for(alice).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("small.txt", b"A short note fits.\n")}, format="multipart"
    )
    assert small.status_code == 201, small.content
