"""A workspace's limits and usage: the one place that combines the settings' defaults with the per-workspace
overrides staff set in the admin (``WorkspaceLimitOverride``). Uploads, ingestion and the pages read them here."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Sum

from documents.models import LIMIT_OVERRIDE_FIELDS, Document, DocumentVersion, WorkspaceLimitOverride

# WorkspaceLimits field -> the setting that holds its default.
_DEFAULTS = {
    "storage_max_bytes": "WORKSPACE_STORAGE_MAX_BYTES",
    "documents_max": "WORKSPACE_DOCUMENTS_MAX",
    "chunks_max": "WORKSPACE_CHUNKS_MAX",
    "document_max_chars": "DOCUMENT_MAX_CHARS",
    "document_max_pages": "DOCUMENT_MAX_PAGES",
    "document_max_chunks": "DOCUMENT_MAX_CHUNKS",
}
assert tuple(_DEFAULTS) == LIMIT_OVERRIDE_FIELDS


@dataclass(frozen=True)
class WorkspaceLimits:
    """What one workspace may hold (``storage_max_bytes``: bytes of all its document versions; ``chunks_max``:
    chunks of all its documents) and what one of its documents may make (``document_*``: extracted characters,
    PDF pages, chunks). All ≥ 1."""

    storage_max_bytes: int
    documents_max: int
    chunks_max: int
    document_max_chars: int
    document_max_pages: int
    document_max_chunks: int

    @property
    def per_document_text(self) -> str:
        """The per-document limits in words, for pages."""
        return (
            f"at most {self.document_max_pages:,} PDF pages, {self.document_max_chars:,} characters of text and"
            f" {self.document_max_chunks:,} chunks"
        )


@dataclass(frozen=True)
class WorkspaceUsage:
    """What a workspace holds now: its documents, the bytes of all their versions, their chunks."""

    documents: int
    stored_bytes: int
    chunks: int


def workspace_limits(*, workspace_id: int) -> WorkspaceLimits:
    """The limits of workspace ``workspace_id``: each one from its ``WorkspaceLimitOverride`` where that is set,
    else from the setting (``WORKSPACE_STORAGE_MAX_BYTES``, ``WORKSPACE_DOCUMENTS_MAX``, ``WORKSPACE_CHUNKS_MAX``,
    ``DOCUMENT_MAX_CHARS``, ``DOCUMENT_MAX_PAGES``, ``DOCUMENT_MAX_CHUNKS``), read at call time. One query."""
    override = (
        WorkspaceLimitOverride.objects.filter(workspace_id=workspace_id).values(*LIMIT_OVERRIDE_FIELDS).first() or {}
    )
    values = {
        field: override[field] if override.get(field) is not None else getattr(settings, setting)
        for field, setting in _DEFAULTS.items()
    }
    return WorkspaceLimits(**values)


def workspace_usage(*, workspace_id: int) -> WorkspaceUsage:
    """What workspace ``workspace_id`` holds, counted from the database: its documents, the sizes of all their
    versions (old versions included: their files are kept) and the chunks of all its documents (each
    document's ``chunk_count``: the chunks of its current version, the only ones stored). One query."""
    documents, versions = Document._meta.db_table, DocumentVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(sum(chunk_count), 0),"
            f" (SELECT coalesce(sum(size_bytes), 0) FROM {versions} WHERE workspace_id = %s)"
            f" FROM {documents} WHERE workspace_id = %s",
            [workspace_id, workspace_id],
        )
        count, chunks, stored = cursor.fetchone()
    return WorkspaceUsage(documents=count, stored_bytes=int(stored), chunks=int(chunks))


def workspace_lock(*, workspace_id: int) -> None:
    """Serialise the writes that must stay within the workspace's limits for the rest of the transaction: its
    row, locked FOR NO KEY UPDATE (rows referencing the workspace can still be inserted meanwhile). Uploads take
    it before they check the documents and storage caps, ingestion before it stores a document's chunks
    (the chunks cap), so two concurrent writers cannot both pass a cap. Take it before any document's row."""
    from accounts.models import Workspace

    Workspace.objects.select_for_update(no_key=True).filter(pk=workspace_id).values_list("pk", flat=True).first()


def workspace_chunks_except(*, workspace_id: int, document_id: int) -> int:
    """Chunks of the workspace's documents other than ``document_id`` (what a re-ingested document adds to)."""
    total = (
        Document.objects.filter(workspace_id=workspace_id)
        .exclude(pk=document_id)
        .aggregate(chunks=Sum("chunk_count"))["chunks"]
    )
    return total or 0


@dataclass(frozen=True)
class UsageLine:
    """One line of a usage report: ``used`` of ``limit`` (``text`` says it in words, e.g. "0.12 of 5 GB")."""

    label: str
    used: int
    limit: int
    text: str

    @property
    def percent(self) -> int:
        return min(100, 100 * self.used // self.limit) if self.limit else 0


def _gigabytes(count: int) -> str:
    return f"{count / 1_000_000_000:.2f}"


def workspace_usage_lines(*, workspace_id: int) -> list[UsageLine]:
    """The workspace's documents, stored bytes and chunks against its limits, for pages."""
    limits, usage = workspace_limits(workspace_id=workspace_id), workspace_usage(workspace_id=workspace_id)
    return [
        UsageLine(
            "Documents",
            usage.documents,
            limits.documents_max,
            f"{usage.documents:,} of {limits.documents_max:,} documents",
        ),
        UsageLine(
            "Storage",
            usage.stored_bytes,
            limits.storage_max_bytes,
            f"{_gigabytes(usage.stored_bytes)} of {limits.storage_max_bytes / 1_000_000_000:g} GB stored",
        ),
        UsageLine("Chunks", usage.chunks, limits.chunks_max, f"{usage.chunks:,} of {limits.chunks_max:,} chunks"),
    ]
