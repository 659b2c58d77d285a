"""Reads of documents and chunks, always scoped to a workspace the caller belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
        .select_related("workspace", "current_version", "pending_version", "uploaded_by")
        .first()
    )
    if document is None:
        raise Http404("No such document.")
    return document


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
