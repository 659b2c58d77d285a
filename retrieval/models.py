"""Retrieval state: BM25 corpus statistics per workspace, and golden sets for evaluation.

The statistics are maintained by PostgreSQL triggers on ``documents_chunk`` (migration 0001), in the same
transaction as every chunk insert, update and delete, so they are always exactly those of the chunks a
query can see: no rebuild per query, no corpus in Python memory. ``retrieval_stats_rebuild`` recomputes them
from scratch (a repair tool; the result must equal the incremental state).
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


class GoldenQuery(BaseModel):
    """One case of a workspace's golden set: a question and what retrieval should find for it.

    Relevant results are the expected document's chunks, or, when ``expected_passage`` is set, the chunks
    whose text contains that passage (whitespace and case normalized).
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="golden_queries")
    question = models.TextField()
    expected_document = models.ForeignKey(
        "documents.Document", on_delete=models.CASCADE, related_name="golden_queries",
        help_text="The document that answers the question.",
    )  # fmt: skip
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
