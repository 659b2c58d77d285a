"""Documents, their versions (uploaded files) and the chunks retrieval searches."""

from __future__ import annotations

import bisect

from django.conf import settings
from django.contrib.postgres.indexes import HashIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from pgvector.django import HnswIndex, VectorField

from accounts.models import Workspace, null_or_positive
from config.models import BaseModel
from documents.embeddings import DIMENSIONS

# The columns that send a document back to the start of ingestion: nothing tried, failed or done yet, and not
# yet handed to the broker (the upload or the sweeper enqueues it). Used with ``status=QUEUED``.
INGESTION_RESET: dict[str, object] = {
    "attempts": 0,
    "error": "",
    "failed_stage": "",
    "progress_done": 0,
    "progress_total": 0,
    "enqueued_at": None,
    "retry_at": None,
    "deferrals": 0,
}
# What a page of a document kind is called where pages are cited; "page" for every kind not listed.
PAGE_UNITS = {"pptx": "slide", "odp": "slide"}


class Document(BaseModel):
    """A document of a workspace. Its id, title and citations survive new versions of its file."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        EXTRACTING = "extracting", "Extracting text"
        CHUNKING = "chunking", "Chunking"
        EMBEDDING = "embedding", "Embedding"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.EXTRACTING, Status.CHUNKING, Status.EMBEDDING)

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=300)
    title_from_file = models.BooleanField(
        default=False,
        help_text="The title is still the one made from the file's name: ingestion replaces it with the file's own"
        " title (its metadata) when it has one.",
    )
    source_path = models.CharField(
        max_length=1024,
        blank=True,
        help_text="Where ``import_documents`` read it (absolute path; a ZIP member as archive/member): a changed"
        " file at the same path becomes a new version.",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="attachments",
        help_text="The e-mail message this document was attached to.",
    )
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    error = models.TextField(blank=True, help_text="Why ingestion failed, in words a user understands.")
    failed_stage = models.CharField(max_length=12, blank=True)
    progress_done = models.PositiveIntegerField(
        default=0, help_text="Chunks embedded so far; while extracting, pages read by OCR so far."
    )
    progress_total = models.PositiveIntegerField(
        default=0, help_text="Chunks to embed; while extracting, pages to read by OCR."
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Ingestion attempts of the pending version.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="Last sign of life of the worker.")
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When the broker last accepted its task.")
    retry_at = models.DateTimeField(
        null=True, blank=True, help_text="Not claimable before this time (set after a transient error)."
    )
    deferrals = models.PositiveSmallIntegerField(
        default=0, help_text="Transient errors of the pending version since it last became ready."
    )
    current_version = models.ForeignKey(
        "DocumentVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version whose chunks are searched.",
    )
    pending_version = models.ForeignKey(
        "DocumentVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The version being ingested; its chunks replace the current ones when ready.",
    )
    chunk_count = models.PositiveIntegerField(default=0)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "status"]),
            models.Index(fields=["status", "heartbeat_at"]),
            # A workspace's latest heartbeat (scheduling.fair_candidates): one index entry instead of all its rows.
            models.Index(fields=["workspace", "heartbeat_at"], name="document_workspace_heartbeat"),
            # Equality lookups only; a hash index holds paths of any length (a B-tree row is at most ~2.7 kB).
            HashIndex(fields=["source_path"], name="document_source_path", condition=~models.Q(source_path="")),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, *self.ACTIVE_STATUSES)

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.READY:
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0

    @property
    def progress_label(self) -> str:
        """The progress in words: "OCR 12 of 40 pages" while extracting, "Embedded 30 of 80 chunks" while
        embedding, "" otherwise."""
        if not self.progress_total:
            return ""
        if self.status == self.Status.EXTRACTING:
            return f"OCR {self.progress_done:,} of {self.progress_total:,} pages"
        if self.status == self.Status.EMBEDDING:
            return f"Embedded {self.progress_done:,} of {self.progress_total:,} chunks"
        return ""


class DocumentVersion(BaseModel):
    """One uploaded file of a document. Stored under a random name; the original name is metadata."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    number = models.PositiveIntegerField()
    file = models.FileField(upload_to="uploads/%Y/%m/", max_length=255)
    original_filename = models.CharField(max_length=255)
    kind = models.CharField(max_length=10)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    extracted_text = models.TextField(blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    page_starts = models.JSONField(
        null=True, blank=True, help_text="PDFs and images: offset in extracted_text where page n starts, at index n-1."
    )
    ocr = models.JSONField(
        null=True,
        blank=True,
        help_text=(
            'Pages read by OCR (null: none needed it): {"pages": [{"page", "confidence", "words", "error"}],'
            ' "unread": [pages that needed OCR while it was off], "reason": why it was off}.'
        ),
    )
    attachment_notes = models.JSONField(
        default=list,
        blank=True,
        help_text="E-mail only: attachments that did not become attachments of this message, as"
        " [{filename, reason}] (refused, already in the workspace, over the limits).",
    )

    class Meta:
        ordering = ["document_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="version_document_number_unique"),
            models.UniqueConstraint(fields=["workspace", "sha256"], name="version_workspace_sha256_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"

    @property
    def page_unit(self) -> str:
        """What this version's pages are: "slide" (presentations) or "page"."""
        return PAGE_UNITS.get(self.kind, "page")


def page_label(kind: str | None, start: int | None, end: int | None = None) -> str:
    """How pages ``start``..``end`` (1-based) of a document of ``kind`` are cited, the one place the label is
    made: "page 3", "pages 3–5", "slide 2", "slides 2–4"; "" without a start page."""
    if not start:
        return ""
    unit = PAGE_UNITS.get(kind or "", "page")
    if end in (None, start):
        return f"{unit} {start}"
    return f"{unit}s {start}\u2013{end}"


def page_of(page_starts: list[int], offset: int) -> int | None:
    """The 1-based page holding character ``offset``, given each page's start offset (``page_starts``,
    ascending); None when there are no pages."""
    if not page_starts:
        return None
    return max(1, bisect.bisect_right(page_starts, offset))


class Chunk(models.Model):
    """A passage of a document version: what retrieval ranks and answers cite.

    ``text`` is exactly ``version.extracted_text[char_start:char_end]``; ``embedding`` is the normalized
    all-MiniLM-L6-v2 vector of the heading path plus text; ``search_vector`` and ``search_length`` are
    written with the row (``documents.search_vector``: title, heading path and text, in the workspace's
    text search configuration).

    Database triggers of ``retrieval`` depend on these columns (migrations ``retrieval/0001`` and ``0002``,
    function ``retrieval_chunk_stats``): ``retrieval_chunk_stats_insert``, ``_delete`` and ``_update`` fire
    after every INSERT, DELETE and UPDATE statement on this table and read ``id``, ``workspace_id``,
    ``document_id``, ``search_vector`` and ``search_length`` of the changed rows, to keep the BM25
    statistics (``WorkspaceStats``: N and total length; ``TermStats``: df per lexeme) and the postings
    (``Posting``: lexeme, chunk, document, tf, length) exact. Renaming, retyping or dropping any of those
    columns needs a ``retrieval`` migration that replaces the function; writing the two search columns
    anywhere but through ``documents.search_vector`` makes BM25 disagree with the index.
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    version = models.ForeignKey(DocumentVersion, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    heading_path = models.JSONField(default=list, blank=True)
    page_start = models.PositiveIntegerField(null=True, blank=True)
    page_end = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveSmallIntegerField()
    embedding = VectorField(dimensions=DIMENSIONS)
    search_vector = SearchVectorField(null=True)
    search_length = models.PositiveIntegerField(
        default=0, help_text="Tokens in search_vector (positions counted): the BM25 document length."
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [models.UniqueConstraint(fields=["version", "ordinal"], name="chunk_version_ordinal_unique")]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            # No GIN index on search_vector: BM25 reads retrieval_posting, and no query uses ``@@``; the index
            # doubled the cost of storing chunks (measured: 1.8 s vs 0.8 s for 1,090 chunks).
            models.Index(fields=["workspace", "document"], name="chunk_workspace_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"

    @property
    def page_label(self) -> str:
        """ "page 3", "slides 2–4", ... or "" (``page_label``; reads ``version``: select it with the chunk)."""
        return page_label(self.version.kind, self.page_start, self.page_end)


# The limits a workspace can override, as ``WorkspaceLimitOverride`` fields (``documents.limits``).
LIMIT_OVERRIDE_FIELDS = (
    "storage_max_bytes",
    "documents_max",
    "chunks_max",
    "document_max_chars",
    "document_max_pages",
    "document_max_chunks",
)


class WorkspaceLimitOverride(BaseModel):
    """A workspace's own limits, set by staff in the admin; each empty field keeps the settings' default
    (``documents.limits.workspace_limits`` is the one place that combines the two)."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="limit_override")
    storage_max_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Bytes stored (all document versions). Empty: WORKSPACE_STORAGE_MAX_BYTES."
    )
    documents_max = models.PositiveIntegerField(
        null=True, blank=True, help_text="Documents. Empty: WORKSPACE_DOCUMENTS_MAX."
    )
    chunks_max = models.PositiveIntegerField(
        null=True, blank=True, help_text="Chunks of all documents. Empty: WORKSPACE_CHUNKS_MAX."
    )
    document_max_chars = models.PositiveIntegerField(
        null=True, blank=True, help_text="Extracted characters per document. Empty: DOCUMENT_MAX_CHARS."
    )
    document_max_pages = models.PositiveIntegerField(
        null=True, blank=True, help_text="Pages per PDF. Empty: DOCUMENT_MAX_PAGES."
    )
    document_max_chunks = models.PositiveIntegerField(
        null=True, blank=True, help_text="Chunks per document. Empty: DOCUMENT_MAX_CHUNKS."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=null_or_positive(field), name=f"limit_override_{field}_positive")
            for field in LIMIT_OVERRIDE_FIELDS
        ]

    def __str__(self) -> str:
        return f"limits of {self.workspace}"


class ReembedJob(BaseModel):
    """Re-embedding one workspace's chunks by ``target_variant`` (``documents.services.reembed``).

    New vectors go to ``ReembedVector`` rows while search keeps using the chunks' own (the workspace's
    ``embedding_variant`` is unchanged); when every chunk has one, a single transaction copies them into the
    chunks and records the new variant: the swap. Runs in slices (``REEMBED_SLICE_CHUNKS``), each re-queued, so a
    crash or restart resumes where the last slice ended; ``lease_until`` tells a stale run from a live one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    target_variant = models.CharField(max_length=32)
    source_variant = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    chunks_total = models.PositiveIntegerField(default=0, help_text="Chunks of the workspace at the last count.")
    chunks_done = models.PositiveIntegerField(default=0, help_text="Chunks with their new vector.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, help_text="The run holding the job.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="It holds the job until then.")
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True, help_text="Who or what started it.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=models.Q(status__in=["queued", "running"]),
                name="reembed_one_unfinished_per_workspace",
            )
        ]

    def __str__(self) -> str:
        return f"re-embedding of workspace {self.workspace_id} by {self.target_variant}"


class ReembedVector(models.Model):
    """A chunk's new ``(384,)`` vector by its job's target variant, waiting for the swap."""

    chunk = models.OneToOneField(Chunk, on_delete=models.CASCADE, primary_key=True, related_name="+")
    job = models.ForeignKey(ReembedJob, on_delete=models.CASCADE, related_name="vectors")
    embedding = VectorField(dimensions=DIMENSIONS)

    def __str__(self) -> str:
        return f"new vector of chunk {self.chunk_id}"


class WorkspaceEmbedding(Workspace):
    """The admin's view of workspaces' embeddings: their variant, and the action that re-embeds them."""

    class Meta:
        proxy = True
        verbose_name = "workspace embedding"
        verbose_name_plural = "workspace embeddings"
