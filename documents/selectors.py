"""Reads of documents and chunks, always scoped to a workspace the caller belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404

from documents.models import Chunk, Document, DocumentVersion

# The large columns of a version, left out when a version is selected only for its kind (page labels).
VERSION_TEXT_FIELDS = ("version__extracted_text", "version__page_starts")

if TYPE_CHECKING:
    from accounts.models import User, Workspace


def document_list(*, workspace: Workspace, status: str | None = None, query: str | None = None) -> QuerySet[Document]:
    """Documents of ``workspace`` (newest first), optionally by status and title substring."""
    documents = Document.objects.filter(workspace=workspace).select_related(
        "current_version", "pending_version", "uploaded_by"
    )
    if status:
        documents = documents.filter(status=status)
    if query:
        documents = documents.filter(title__icontains=query)
    return documents


def document_get_for_user(*, user: User, document_id: object) -> Document:
    """The document if ``user`` is a member of its workspace. Raises Http404 otherwise (never 403)."""
    try:
        pk = int(str(document_id))
    except (TypeError, ValueError):
        raise Http404("No such document.") from None
    document = (
        Document.objects.filter(pk=pk, workspace__memberships__user=user)
        .select_related("workspace", "current_version", "pending_version", "uploaded_by", "parent")
        .first()
    )
    if document is None:
        raise Http404("No such document.")
    return document


def document_attachments(*, document: Document) -> QuerySet[Document]:
    """The documents attached to ``document`` (an e-mail message), oldest first (the message's order)."""
    return Document.objects.filter(parent=document, workspace_id=document.workspace_id).order_by("created_at", "pk")


def document_attachment_notes(*, document: Document) -> list[dict[str, str]]:
    """The attachments of ``document``'s current version (an e-mail message) that did not become its attachments:
    ``[{"filename", "reason"}]`` (refused, already in the workspace, over the limits)."""
    version = document.current_version
    return list(version.attachment_notes) if version is not None else []


def document_versions(*, document: Document) -> QuerySet[DocumentVersion]:
    return DocumentVersion.objects.filter(document=document).select_related("uploaded_by").order_by("-number")


def document_version_get(*, document: Document, number: object | None) -> DocumentVersion:
    """A version by number, or the current (else the newest) one. Raises Http404."""
    versions = document_versions(document=document)
    if number not in (None, ""):
        try:
            version = versions.filter(number=int(str(number))).first()
        except ValueError:
            version = None
    else:
        version = document.current_version or versions.first()
    if version is None:
        raise Http404("No such version.")
    return version


def chunk_list(*, document: Document) -> QuerySet[Chunk]:
    """The searched chunks of a document, in order (without their embeddings), each with its version's kind
    (for ``Chunk.page_label``)."""
    return (
        Chunk.objects.filter(document=document)
        .select_related("version")
        .defer("embedding", "search_vector", *VERSION_TEXT_FIELDS)
        .order_by("ordinal")
    )


def document_status_counts(*, workspace: Workspace) -> dict[str, int]:
    from django.db.models import Count

    rows = Document.objects.filter(workspace=workspace).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


@dataclass(frozen=True)
class OcrPageSummary:
    """One page OCR read: mean word confidence (0-100; None without words), words, ``error`` when OCR failed on
    it, ``low_confidence`` when its confidence is below ``OCR_LOW_CONFIDENCE``."""

    page: int
    confidence: float | None
    words: int
    error: str
    low_confidence: bool


@dataclass(frozen=True)
class OcrSummary:
    """What OCR did for a document version (``DocumentVersion.ocr``): ``pages_read`` of its ``pages_total``
    pages were read by OCR (those it failed on are in ``failed_pages``), with ``mean_confidence`` the mean word
    confidence over them (0-100, weighted by words; None without words); ``low_confidence_pages`` are below
    ``low_confidence_below`` (``OCR_LOW_CONFIDENCE``); ``unread_pages`` needed OCR while it was off
    (``unread_reason``)."""

    pages_total: int
    pages_read: int
    mean_confidence: float | None
    low_confidence_below: int
    low_confidence_pages: list[int]
    failed_pages: list[int]
    unread_pages: list[int]
    unread_reason: str
    pages: list[OcrPageSummary]


def version_ocr_summary(*, version: DocumentVersion | None) -> OcrSummary | None:
    """The OCR summary of ``version``; None when it has none (no page needed OCR, or not ingested yet)."""
    record = version.ocr if version is not None else None
    if not record:
        return None
    assert version is not None
    below = settings.OCR_LOW_CONFIDENCE
    pages = [
        OcrPageSummary(
            page=page["page"],
            confidence=page["confidence"],
            words=page["words"],
            error=page["error"],
            low_confidence=page["confidence"] is not None and page["confidence"] < below,
        )
        for page in record["pages"]
    ]
    read = [page for page in pages if not page.error]
    words = sum(page.words for page in read)
    mean = sum((page.confidence or 0) * page.words for page in read) / words if words else None
    return OcrSummary(
        pages_total=version.page_count or len(pages),
        pages_read=len(read),
        mean_confidence=round(mean, 1) if mean is not None else None,
        low_confidence_below=below,
        low_confidence_pages=[page.page for page in pages if page.low_confidence],
        failed_pages=[page.page for page in pages if page.error],
        unread_pages=list(record["unread"]),
        unread_reason=record["reason"],
        pages=pages,
    )
