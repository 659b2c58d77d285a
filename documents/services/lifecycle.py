"""Delete, reprocess and retry documents."""

from __future__ import annotations

import logging
from typing import IO

from django.db import transaction
from django.db.models import QuerySet

from accounts.models import Membership, User
from accounts.services.audit import Event, audit_record
from config.errors import ApplicationError, ConflictError, ForbiddenError
from documents.models import INGESTION_RESET, Document, DocumentVersion
from documents.services.scheduling import checkpoint_drop
from documents.services.upload import stored_file_delete

logger = logging.getLogger(__name__)
Status = Document.Status


def _requeue(queryset: QuerySet[Document]) -> list[int]:
    from documents.services.ingest import document_enqueue

    ids = list(queryset.values_list("pk", flat=True))
    with transaction.atomic():
        for document in Document.objects.select_for_update().filter(pk__in=ids):
            version = document.pending_version or document.current_version
            Document.objects.filter(pk=document.pk).update(
                status=Status.QUEUED, pending_version=version, **INGESTION_RESET
            )
            if version is not None:  # from the start: no embeddings kept from an earlier run are reused
                checkpoint_drop(version_id=version.pk)
        transaction.on_commit(lambda: [document_enqueue(document_id=i) for i in ids])
    return ids


def require_document_editor(*, document: Document, actor: Membership) -> None:
    """Only the document's uploader or a workspace owner/admin may change it: delete it, upload a new version
    (which then feeds every answer) or reprocess it. Raises ForbiddenError (403) for anyone else."""
    if not (actor.can_manage or document.uploaded_by_id == actor.user_id):
        raise ForbiddenError("Only the uploader or a workspace owner or admin can change this document.")


def document_reprocess(*, document: Document, actor: Membership | None = None) -> Document:
    """Ingest the document's file again (e.g. after a chunking change). The current chunks stay
    searchable until the new ones are ready. With ``actor``, only an editor may (``require_document_editor``).
    Raises ConflictError while it is being ingested, ForbiddenError for someone else's document."""
    if actor is not None:
        require_document_editor(document=document, actor=actor)
    if document.status in Document.ACTIVE_STATUSES or document.status == Status.QUEUED:
        raise ConflictError("This document is already queued or being ingested.")
    _requeue(Document.objects.filter(pk=document.pk))
    document.refresh_from_db()
    return document


def document_retry_failed(
    *, workspace_id: int, actor: Membership | None = None, document_ids: list[int] | None = None
) -> int:
    """Queue the failed documents of a workspace again (all, or those of ``document_ids``); returns how many.

    With ``actor``, only the documents it may change (``require_document_editor``: an owner or admin all of
    them, a member its own uploads): retrying re-ingests a file, which then feeds every answer.
    """
    failed = Document.objects.filter(workspace_id=workspace_id, status=Status.FAILED)
    if document_ids is not None:
        failed = failed.filter(pk__in=document_ids)
    if actor is not None and not actor.can_manage:
        failed = failed.filter(uploaded_by_id=actor.user_id)
    return len(_requeue(failed))


def document_delete(*, document: Document, actor: Membership | None = None) -> None:
    """Delete a document with its versions, chunks and stored files (files after the commit).

    With ``actor``, only an editor may delete (``require_document_editor``; else ForbiddenError).
    """
    if actor is not None:
        require_document_editor(document=document, actor=actor)
    versions = list(DocumentVersion.objects.filter(document=document).values_list("pk", "file"))
    names = [name for _, name in versions]
    with transaction.atomic():
        actor_user = actor.user if actor is not None else None
        audit_record(
            event=Event.DOCUMENT_DELETED, actor=actor_user, workspace_id=document.workspace_id, target=document
        )
        Document.objects.filter(pk=document.pk).delete()
        transaction.on_commit(lambda: _forget(names, [pk for pk, _ in versions]))
    logger.info("document %s deleted with %d file(s)", document.pk, len(names))


def _forget(names: list[str], version_ids: list[int]) -> None:
    """After a document is deleted: its stored files and the embeddings kept for its versions."""
    stored_file_delete(names)
    for version_id in version_ids:
        checkpoint_drop(version_id=version_id)


def document_version_open(*, version: DocumentVersion, user: User) -> IO[bytes]:
    """Open ``version``'s stored file for ``user`` to download (binary, the caller closes it) and record the
    download on the audit trail. Raises ApplicationError if the stored file is missing (nothing is recorded)."""
    try:
        handle = version.file.open("rb")
    except FileNotFoundError:
        raise ApplicationError("The stored file is missing.") from None
    label = f"{version.document.title} (version {version.number})"
    target = version.document
    audit_record(
        event=Event.DOCUMENT_DOWNLOADED,
        actor=user,
        workspace_id=version.workspace_id,
        target=target,
        target_label=label,
    )
    return handle
