"""What ingestion does with a freshly extracted file besides chunking it (``document_extracted``, called by
``documents.services.ingest`` between extraction and chunking)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from documents.services.attachments import message_attachments_ingest
from documents.services.titles import document_title_apply

if TYPE_CHECKING:
    from documents.models import Document, DocumentVersion
    from documents.services.extract import ExtractedText


def document_extracted(*, document: Document, version: DocumentVersion, extracted: ExtractedText) -> None:
    """Give ``document`` the file's own title when it is still titled from its file name (before its chunks are
    made: they carry the title) and upload an e-mail message's attachments as documents of their own
    (``documents.services.attachments``). Safe to run again on a retry."""
    document_title_apply(document=document, extracted_title=extracted.title)
    message_attachments_ingest(document=document, version=version)
