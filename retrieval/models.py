"""Retrieval state: BM25 corpus statistics and postings per workspace, and golden sets for evaluation.

The statistics and the postings (the inverted index BM25 reads) are maintained by PostgreSQL triggers on
``documents.Chunk``'s table (migrations 0001 and 0002), in the same transaction as every chunk insert, update and
delete, so they are always exactly those of the chunks a query can see: no rebuild per query, no corpus in
Python memory. ``retrieval.services.workspace_stats_rebuild`` recomputes them from scratch (a repair tool;
the result must equal the incremental state).
"""

from __future__ import annotations

from django.db import models

from config.models import BaseModel


class WorkspaceStats(models.Model):
    """BM25 collection statistics of one workspace: N (chunks) and the summed chunk length (tokens)."""

    workspace = models.OneToOneField(
        "accounts.Workspace", on_delete=models.DO_NOTHING, db_constraint=False, primary_key=True, related_name="+"
    )
    chunk_count = models.BigIntegerField(default=0, help_text="N: chunks with a search vector.")
    total_length = models.BigIntegerField(default=0, help_text="Sum of chunk lengths in tokens.")
    generation = models.BigIntegerField(default=0, help_text="Bumped by every change, for caches.")

    class Meta:
        verbose_name_plural = "workspace stats"

    def __str__(self) -> str:
        return f"workspace {self.workspace_id}: {self.chunk_count} chunks"

    @property
    def average_length(self) -> float:
        """avgdl: mean chunk length in tokens (0.0 for an empty workspace)."""
        return self.total_length / self.chunk_count if self.chunk_count else 0.0


class TermStats(models.Model):
    """Document frequency of one lexeme in one workspace: the number of chunks whose ``tsvector`` holds it."""

    pk = models.CompositePrimaryKey("workspace_id", "lexeme")
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    lexeme = models.TextField()
    df = models.IntegerField()

    class Meta:
        verbose_name_plural = "term stats"

    def __str__(self) -> str:
        return f"{self.lexeme}: {self.df}"


class Posting(models.Model):
    """One entry of the inverted index: lexeme ``lexeme`` occurs ``tf`` times in chunk ``chunk_id``.

    Kept by the same triggers as the statistics (migration 0002). Its primary key, ``(workspace, lexeme,
    chunk_id)`` with ``tf``, ``length`` and ``document_id`` stored in the index (``INCLUDE``), lets BM25 read a
    term's postings in one index-only range scan, without touching the chunks table.
    """

    pk = models.CompositePrimaryKey("workspace_id", "lexeme", "chunk_id")
    workspace = models.ForeignKey(
        "accounts.Workspace", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    lexeme = models.TextField()
    chunk_id = models.BigIntegerField()
    document_id = models.BigIntegerField()
    tf = models.IntegerField(help_text="Positions of the lexeme in the chunk (a tsvector keeps at most 256).")
    length = models.IntegerField(help_text="The chunk's length in tokens (Chunk.search_length).")

    def __str__(self) -> str:
        return f"{self.lexeme} in chunk {self.chunk_id}: {self.tf}"


class GoldenQuery(BaseModel):
    """One case of a workspace's golden set: a question and what retrieval should find for it.

    Relevant results are the expected document's chunks, or, when ``expected_passage`` is set, the chunks
    whose text contains that passage (whitespace and case normalized).
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="golden_queries")
    question = models.TextField()
    expected_document = models.ForeignKey(
        "documents.Document",
        on_delete=models.CASCADE,
        related_name="golden_queries",
        help_text="The document that answers the question.",
    )
    expected_passage = models.TextField(
        blank=True, help_text="Optional: a passage of that document that must be retrieved (exact words)."
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["workspace_id", "id"]
        verbose_name_plural = "golden queries"

    def __str__(self) -> str:
        return self.question[:80]

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.expected_document_id and self.workspace_id and self.expected_document.workspace_id != self.workspace_id:
            raise ValidationError({"expected_document": "Choose a document of the same workspace."})
