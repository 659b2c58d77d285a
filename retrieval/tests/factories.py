"""Helpers that put text into a workspace through the real upload, chunking, embedding and storage code."""

from __future__ import annotations

from django.core.files.base import ContentFile

from accounts.models import Workspace
from documents.models import Document
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload


def ingest_text(workspace: Workspace, text: str, *, title: str, filename: str | None = None) -> Document:
    """Upload ``text`` as a document of ``workspace`` and ingest it in this process; returns it ready."""
    result = document_upload(
        workspace=workspace,
        user=None,
        file=ContentFile(text.encode()),
        filename=filename or f"{title}.txt",
        title=title,
        enqueue=False,
    )
    status = document_ingest(document_id=result.document.pk)
    assert status == Document.Status.READY, (status, result.document.pk)
    result.document.refresh_from_db()
    return result.document
