"""Helpers shared by the ingestion tests: upload through the API, wait for a real worker to finish a document,
or ingest one in this process."""

from __future__ import annotations

from typing import Any

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from config.testing import wait_until
from documents.models import Document
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload


def upload(client: Any, name: str, data: bytes) -> int:
    """Upload ``data`` as ``name`` through ``POST /api/v1/documents/``; the new document's id (fails unless 201)."""
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def wait_finished(
    document_id: int, *, timeout: float = 120, worker: Any = None, statuses: tuple[str, ...] = ("ready", "failed")
) -> Document:
    """The document once its status is one of ``statuses`` (a worker finished it); fails the test after
    ``timeout`` seconds, with the end of ``worker``'s log (a ``WorkerProcess``) when given."""

    def failure() -> str:
        status = Document.objects.get(pk=document_id).status
        return f"document {document_id} still {status}" + (f":\n{worker.log.read_text()[-3000:]}" if worker else "")

    wait_until(Document.objects.filter(pk=document_id, status__in=statuses).exists, timeout=timeout, failure=failure)
    return Document.objects.get(pk=document_id)


def ingest_here(workspace: Any, user: Any, name: str, data: bytes, title: str | None = None) -> Document:
    """Upload ``data`` (with a typed ``title``, if given) without a task and ingest it in this process; the
    document as ingestion left it."""
    result = document_upload(
        workspace=workspace, user=user, file=ContentFile(data), filename=name, title=title, enqueue=False
    )
    document_ingest(document_id=result.document.pk)
    return Document.objects.get(pk=result.document.pk)
