"""E-mail attachments as documents of their own: after a message is extracted, each of its first
``EML_MAX_ATTACHMENTS`` attachments goes through the upload service (the same checks, limits and deduplication by
content as any upload) as a document whose ``parent`` is the message. What did not become one (refused,
already in the workspace, over the limits) is listed on the message's version as ``attachment_notes``.

Idempotent: ingesting the message again finds its attachments already there (same bytes) and links nothing twice.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from config.errors import ApplicationError
from documents.models import Document, DocumentVersion
from documents.services.formats.eml import EmlAttachment, eml_attachments, eml_parse
from documents.services.upload import clean_filename, document_upload

logger = logging.getLogger(__name__)

NESTED = "Attachments of an attached message are not read."


def message_attachments_ingest(*, document: Document, version: DocumentVersion) -> list[dict[str, str]]:
    """Upload the attachments of the e-mail message ``version`` (kind "eml"; other kinds: nothing happens) as
    documents attached to ``document``, uploaded by the message's uploader, and store on ``version`` the notes
    ``[{"filename", "reason"}]`` of those that were not attached (also returned). A message that is itself an
    attachment (``document.parent``) has its attachments listed, not read: messages are read one level deep.

    Raises nothing for a refused attachment (that is a note); database errors propagate (the task retries).
    """
    if version.kind != "eml":
        return []
    with default_storage.open(str(version.file.name), "rb") as stored:
        data = stored.read()
    limit = settings.EML_MAX_ATTACHMENTS
    try:  # extraction read the same bytes within the parser's bounds (``formats.eml.eml_bounds``)
        attachments, more = eml_attachments(eml_parse(data), limit)
    except (RecursionError, ValueError, LookupError, IndexError, TypeError, AttributeError) as exc:  # malformed MIME
        logger.warning("document %s: attachments unreadable (%s)", document.pk, exc)
        attachments, more = [], 0
    notes = []
    for attachment in attachments:
        reason = NESTED if document.parent_id is not None else _attach(document, version, attachment)
        if reason:
            notes.append({"filename": clean_filename(attachment.filename), "reason": reason})
    if more:
        notes.append(
            {"filename": f"{more:,} more", "reason": f"Only a message's first {limit:,} attachments are read."}
        )
    DocumentVersion.objects.filter(pk=version.pk).update(attachment_notes=notes)
    return notes


def _attach(message: Document, version: DocumentVersion, attachment: EmlAttachment) -> str:
    """Upload one attachment as a document attached to ``message``; "" when it is (now or already), else why not."""
    if not attachment.data:
        return "This attachment is empty."
    try:
        result = document_upload(
            workspace=message.workspace,
            user=version.uploaded_by,
            file=ContentFile(attachment.data, name=attachment.filename),
            filename=attachment.filename,
            parent=message,
        )
    except ApplicationError as exc:
        return exc.message
    if not result.created and result.document.parent_id != message.pk:
        return f"Already in the workspace as “{result.document.title}”."
    return ""
