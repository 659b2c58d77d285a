"""Uploads: validate (size, type by content, PDF/DOCX sanity), deduplicate by SHA-256, store, enqueue.

Nothing is stored when a file is rejected. Files are stored under random names; the original filename is
kept only as metadata. Ingestion is enqueued after the transaction commits; if the broker is down the
document simply stays ``queued`` and the sweeper enqueues it later.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import re
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.services.audit import Event, audit_record
from config.errors import ApplicationError, ConflictError, TooManyRequestsError
from documents.limits import workspace_limits, workspace_lock, workspace_usage
from documents.models import INGESTION_RESET, Document, DocumentVersion
from documents.services.extract_errors import EmptyFile
from documents.services.filetypes import check_file, sniff_file
from documents.services.titles import title_from_filename, title_typed

if TYPE_CHECKING:
    from accounts.models import User, Workspace

logger = logging.getLogger(__name__)


class FileTooLarge(ApplicationError):
    status_code = 413
    code = "file_too_large"


class RequestTooLarge(ApplicationError):
    """One request carries more than ``UPLOAD_REQUEST_MAX_BYTES`` bytes or ``UPLOAD_REQUEST_MAX_FILES`` files
    (413; nothing of it was stored)."""

    status_code = 413
    code = "request_too_large"


class WorkspaceStorageFull(ApplicationError):
    """The upload would take the workspace past its storage limit (``WorkspaceLimits.storage_max_bytes``; 413:
    the content is too large for the room left, as for a file over the per-file limit)."""

    status_code = 413
    code = "workspace_storage_full"


class WorkspaceDocumentsFull(ConflictError):
    """The workspace already holds its limit of documents (``WorkspaceLimits.documents_max``). 409, not 429:
    waiting does not help, only deleting documents does (the workspace's state conflicts with the request; 429
    means "retry later")."""

    code = "workspace_documents_full"


class UploadRateLimited(TooManyRequestsError):
    """The user has sent ``UPLOADS_PER_USER_PER_HOUR`` uploads this hour (429 with ``Retry-After``)."""

    code = "upload_rate_limited"


class StorageFull(ApplicationError):
    """The server's storage has no room for the file (its disk or quota is full: ENOSPC, EDQUOT). 507; nothing of
    the upload was kept, and the same upload succeeds once an operator made room."""

    status_code = 507
    code = "storage_full"


STORAGE_FULL = "The server has no room to store this file right now. Nothing was saved; please try again later."


def file_too_large_message() -> str:
    return f"This file is larger than the upload limit of {settings.MAX_UPLOAD_BYTES / 1_000_000:g} MB."


@dataclass(frozen=True)
class UploadResult:
    document: Document
    created: bool  # False: the same bytes were already in the workspace, nothing new was stored
    message: str


def clean_filename(name: str) -> str:
    """A display-safe original filename: basename only, no control or path characters, ≤ 255 chars (a longer
    name loses the end of its stem, not its extension)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.sub(r"\s+", " ", name).strip().lstrip(".") or "untitled"
    stem, dot, extension = name.rpartition(".")
    if len(name) > 255 and stem and len(extension) < 16:  # the extension kept, as Django's UploadedFile keeps it
        return stem[: 254 - len(extension)] + dot + extension
    return name[:255]


@contextlib.contextmanager
def _local_copy(file: File) -> Iterator[tuple[Path, str]]:
    """A path to the upload's bytes on local disk, and their SHA-256 hex digest."""
    digest = hashlib.sha256()
    if hasattr(file, "temporary_file_path"):
        for block in file.chunks():
            digest.update(block)
        yield Path(file.temporary_file_path()), digest.hexdigest()
        return
    with tempfile.NamedTemporaryFile(prefix="gw-upload-", delete=True) as tmp:
        file.seek(0)
        for block in file.chunks():
            digest.update(block)
            tmp.write(block)
        tmp.flush()
        yield Path(tmp.name), digest.hexdigest()


def _inspect(file: File, filename: str) -> tuple[str, str, int]:
    """(kind, sha256, size) of an acceptable upload. Raises FileTooLarge or ExtractionError subclasses."""
    size = file.size or 0
    if size > settings.MAX_UPLOAD_BYTES:
        raise FileTooLarge(file_too_large_message())
    if size == 0:
        raise EmptyFile("This file is empty.")
    with _local_copy(file) as (path, sha256):
        kind = sniff_file(path, filename)
        check_file(path, kind)
    file.seek(0)
    return kind, sha256, size


def upload_rate_check(*, user: User) -> None:
    """Count one upload (a new document or a new version) for ``user`` in the current UTC hour, across all
    their workspaces, and raise ``UploadRateLimited`` (429, ``Retry-After``: seconds until the next hour) once
    the count passes the user's limit: ``user.uploads_per_hour`` (set by staff in the admin for a user who needs
    more, e.g. a bulk import) or else ``UPLOADS_PER_USER_PER_HOUR``.

    Counted with ``cache.add`` + ``cache.incr`` on a per-user, per-hour key: atomic in the shared Redis cache, so
    concurrent requests on several web processes cannot slip past the limit (a per-process cache would not
    hold). Refused attempts are counted too (they still cost the server a parsed request). With the cache
    unreachable the upload is let through (logged): a dead Redis must not stop uploads, which wait in ``queued``
    until the broker is back.
    """
    now = time.time()
    hour = int(now // 3600)
    key = f"documents:uploads:{user.pk}:{hour}"
    try:
        cache.add(key, 0, timeout=3600 + 60)
        count = cache.incr(key)
    except Exception:  # the cache backend's connection errors: Redis down
        logger.warning("upload rate limit not counted for user %s: the cache is unreachable", user.pk)
        return
    limit = user.uploads_per_hour if user.uploads_per_hour is not None else settings.UPLOADS_PER_USER_PER_HOUR
    if count > limit:
        retry = max(1, int((hour + 1) * 3600 - now))
        logger.warning("upload refused: user %s is over %d uploads this hour", user.pk, limit)
        raise UploadRateLimited(
            f"You have reached the limit of {limit:,} uploads per hour. Try again in {retry // 60 + 1} minutes.",
            headers={"Retry-After": str(retry)},
        )


# A file larger than this is checked against the workspace's room before it is stored as well as under the lock
# after: writing (and deleting) a smaller one costs less than the four queries of the early check.
EARLY_ROOM_CHECK_BYTES = 1_048_576


def workspace_room_check(*, workspace_id: int, new_bytes: int, new_documents: int) -> None:
    """Raise ``WorkspaceDocumentsFull`` (409) or ``WorkspaceStorageFull`` (413) if adding ``new_documents``
    documents holding ``new_bytes`` bytes would take the workspace past its ``documents_max`` or
    ``storage_max_bytes`` (``documents.limits.workspace_limits``: the settings' ``WORKSPACE_DOCUMENTS_MAX`` and
    ``WORKSPACE_STORAGE_MAX_BYTES`` unless overridden for the workspace). Called under the workspace lock, and
    for a file over ``EARLY_ROOM_CHECK_BYTES`` before it is stored too."""
    limits, usage = workspace_limits(workspace_id=workspace_id), workspace_usage(workspace_id=workspace_id)
    stored, documents = usage.stored_bytes, usage.documents
    max_documents, max_bytes = limits.documents_max, limits.storage_max_bytes
    if new_documents and documents + new_documents > max_documents:
        logger.warning(
            "upload refused: workspace %s holds %d documents (limit %d)", workspace_id, documents, max_documents
        )
        raise WorkspaceDocumentsFull(
            f"This workspace has reached its limit of {max_documents:,} documents. Delete documents to make room."
        )
    if stored + new_bytes > max_bytes:
        logger.warning(
            "upload refused: workspace %s stores %d bytes, +%d is over the limit of %d",
            workspace_id,
            stored,
            new_bytes,
            max_bytes,
        )
        raise WorkspaceStorageFull(
            f"This file does not fit in the workspace's storage limit of {max_bytes / 1_000_000_000:g} GB "
            f"({stored / 1_000_000_000:.2f} GB used). Delete documents to make room."
        )


def _store(file: File, workspace_id: int) -> str:
    """Write the upload under a random name; returns the stored name. A write that fails (a full disk leaves the
    file half-written) removes what it wrote; a full disk or quota raises ``StorageFull``, other errors propagate."""
    name = f"uploads/{workspace_id}/{uuid.uuid4().hex}"
    file.seek(0)
    try:
        return default_storage.save(name, file)
    except OSError as exc:
        with contextlib.suppress(OSError):
            default_storage.delete(name)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            logger.error("upload to workspace %s not stored: %s", workspace_id, exc)
            raise StorageFull(STORAGE_FULL) from exc
        raise


def _enqueue_after_commit(document_id: int) -> None:
    from documents.services.ingest import document_enqueue

    transaction.on_commit(lambda: document_enqueue(document_id=document_id))


def _duplicate(workspace: Workspace, sha256: str) -> UploadResult | None:
    version = DocumentVersion.objects.filter(workspace=workspace, sha256=sha256).select_related("document").first()
    if version is None:
        return None
    document = version.document
    return UploadResult(document, False, f"This file is already in the workspace as “{document.title}”.")


def _version_create(
    document: Document,
    number: int,
    stored: str,
    filename: str,
    kind: str,
    size: int,
    sha256: str,
    user: User | None,
) -> DocumentVersion:
    """Version ``number`` of ``document`` for a file already stored at ``stored`` (``size`` bytes)."""
    return DocumentVersion.objects.create(
        document=document,
        workspace_id=document.workspace_id,
        number=number,
        file=stored,
        original_filename=filename,
        kind=kind,
        size_bytes=size,
        sha256=sha256,
        uploaded_by=user,
    )


def document_upload(
    *,
    workspace: Workspace,
    user: User | None,
    file: File,
    filename: str,
    title: str | None = None,
    enqueue: bool = True,
    parent: Document | None = None,
    source_path: str = "",
) -> UploadResult:
    """Validate, deduplicate, store and enqueue a new document (``enqueue=False``: the caller runs
    ``document_ingest`` itself, as the evaluation commands do). Without a ``title`` the document is titled from
    ``filename`` until ingestion finds the file's own title (``documents.services.titles``). ``parent``: the
    message it is an attachment of; ``source_path``: where ``import_documents`` read it.

    Returns ``UploadResult(created=False)`` with the existing document when the same bytes (SHA-256) are
    already in the workspace. Raises ``FileTooLarge``, ``WorkspaceStorageFull`` (413), ``WorkspaceDocumentsFull``
    (409), ``StorageFull`` (507: disk full), ``UnsupportedType`` (415), ``EmptyFile``, ``EncryptedPdf``,
    ``CorruptFile`` or ``ZipBomb`` (400); nothing is stored then. Hourly limit: the caller's (``upload_rate_check``)."""
    filename = clean_filename(filename)
    kind, sha256, size = _inspect(file, filename)
    duplicate = _duplicate(workspace, sha256)
    if duplicate is not None:
        return duplicate
    if size > EARLY_ROOM_CHECK_BYTES:
        workspace_room_check(workspace_id=workspace.pk, new_bytes=size, new_documents=1)
    stored = _store(file, workspace.pk)
    try:
        with transaction.atomic():
            workspace_lock(workspace_id=workspace.pk)
            workspace_room_check(workspace_id=workspace.pk, new_bytes=size, new_documents=1)
            typed = title_typed(title)
            document = Document.objects.create(
                workspace=workspace,
                title=typed or title_from_filename(filename),
                title_from_file=not typed,
                uploaded_by=user,
                status=Document.Status.QUEUED,
                parent=parent,
                source_path=source_path,
            )
            version = _version_create(document, 1, stored, filename, kind, size, sha256, user)
            document.pending_version = version
            document.save(update_fields=["pending_version"])
            audit_record(event=Event.DOCUMENT_UPLOADED, actor=user, workspace_id=workspace.pk, target=document)
            if enqueue:
                _enqueue_after_commit(document.pk)
    except IntegrityError:
        default_storage.delete(stored)
        duplicate = _duplicate(workspace, sha256)  # a concurrent upload of the same bytes won
        if duplicate is None:
            raise
        return duplicate
    except BaseException:
        default_storage.delete(stored)
        raise
    logger.info("document %s uploaded (%s, %d bytes) to workspace %s", document.pk, kind, size, workspace.pk)
    return UploadResult(document, True, f"“{document.title}” was uploaded and queued for ingestion.")


def document_version_upload(*, document: Document, user: User | None, file: File, filename: str) -> DocumentVersion:
    """Upload a new version of ``document``: same id and title; its chunks replace the current ones
    atomically once the new version is ready (until then the current version stays searchable).

    Raises:
        ConflictError: the bytes equal a version already in the workspace, or the document is being ingested.
        WorkspaceStorageFull: the version would take the workspace past its storage limit (413).
        FileTooLarge, ExtractionError subclasses: as for ``document_upload``.
    """
    filename = clean_filename(filename)
    kind, sha256, size = _inspect(file, filename)
    existing = DocumentVersion.objects.filter(workspace_id=document.workspace_id, sha256=sha256).first()
    if existing is not None:
        where = "this document" if existing.document_id == document.pk else f"“{existing.document.title}”"
        raise ConflictError(f"These exact bytes are already version {existing.number} of {where}.")
    if size > EARLY_ROOM_CHECK_BYTES:
        workspace_room_check(workspace_id=document.workspace_id, new_bytes=size, new_documents=0)
    stored = _store(file, document.workspace_id)
    try:
        with transaction.atomic():
            workspace_lock(workspace_id=document.workspace_id)
            workspace_room_check(workspace_id=document.workspace_id, new_bytes=size, new_documents=0)
            locked = Document.objects.select_for_update().get(pk=document.pk)
            if locked.status in Document.ACTIVE_STATUSES:
                raise ConflictError("This document is being ingested; upload the new version when it is done.")
            number = (locked.versions.aggregate(n=Max("number"))["n"] or 0) + 1
            version = _version_create(locked, number, stored, filename, kind, size, sha256, user)
            Document.objects.filter(pk=locked.pk).update(
                pending_version=version, status=Document.Status.QUEUED, **INGESTION_RESET
            )
            label = f"{locked.title} (version {number})"
            audit_record(
                event=Event.DOCUMENT_VERSION,
                actor=user,
                workspace_id=locked.workspace_id,
                target=locked,
                target_label=label,
            )
            _enqueue_after_commit(locked.pk)
    except BaseException:
        default_storage.delete(stored)
        raise
    return version


def stored_file_delete(names: list[str]) -> None:
    """Delete stored files (after the rows are gone); missing files are ignored."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not delete stored file %s", name)
