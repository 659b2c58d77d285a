"""Conversations, messages with their verified citations, feedback, and daily usage for quotas."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from config.models import BaseModel
from documents.models import page_label


class Conversation(BaseModel):
    """A user's conversation inside one workspace, optionally scoped to chosen documents."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="conversations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="+")
    scoped = models.BooleanField(
        default=False,
        help_text="Limited to chosen documents: stays limited (and says so) even once they are all deleted.",
    )

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["workspace", "user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(BaseModel):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    standalone_query = models.TextField(blank=True, help_text="The question as retrieval saw it.")
    retrieved = models.JSONField(default=list, blank=True, help_text="[{chunk_id, document_id, score, bm25, vector}]")
    not_covered = models.BooleanField(default=False, help_text="Nothing relevant was found; no answer invented.")
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    fallback_used = models.BooleanField(default=False)
    fallbacks = models.JSONField(default=list, blank=True, help_text="[{provider, error}] in order.")
    citation_issues = models.JSONField(
        default=list,
        blank=True,
        help_text="Markers dropped from the answer: [{marker, reason}] (invalid or unsupported).",
    )
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["conversation_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"


class Citation(models.Model):
    """A verified citation marker ``[n]`` of an assistant message. The passage is kept as a snapshot (version,
    offsets, quote), so the citation still opens the right text after its document is re-ingested."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    marker = models.PositiveSmallIntegerField()
    chunk = models.ForeignKey("documents.Chunk", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    document = models.ForeignKey("documents.Document", null=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey("documents.DocumentVersion", null=True, on_delete=models.SET_NULL, related_name="+")
    document_title = models.CharField(max_length=300)
    page_start = models.PositiveIntegerField(null=True, blank=True, help_text="Pages of the supporting sentence.")
    page_end = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    passage_start = models.PositiveIntegerField(
        null=True, blank=True, help_text="The sentence of the chunk that best supports the claim (offsets in the text)."
    )
    passage_end = models.PositiveIntegerField(null=True, blank=True)
    quote = models.TextField(help_text="The cited chunk's text.")
    support = models.FloatField(help_text="How well the cited sentences are supported by the chunk (0–1).")

    class Meta:
        ordering = ["message_id", "marker"]
        constraints = [models.UniqueConstraint(fields=["message", "marker"], name="citation_message_marker_unique")]

    def __str__(self) -> str:
        return f"[{self.marker}] {self.document_title}"

    @property
    def page_label(self) -> str:
        """ "page 3", "slide 2", ... or "" (``documents.models.page_label``; reads ``version``: select it too)."""
        return page_label(self.version.kind if self.version else None, self.page_start, self.page_end)


class Feedback(BaseModel):
    """A user's thumbs up or down on an answer, with an optional comment (one per user and message)."""

    class Rating(models.IntegerChoices):
        UP = 1, "thumbs up"
        DOWN = -1, "thumbs down"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    rating = models.SmallIntegerField(choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="feedback_message_user_unique")]

    def __str__(self) -> str:
        return f"{self.rating:+d} on {self.message_id}"


class UsageDay(models.Model):
    """Questions asked and LLM tokens used by one user in one workspace on one (UTC) day."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    questions = models.PositiveIntegerField(default=0)
    tokens = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "user", "day"], name="usage_day_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id}@{self.workspace_id}: {self.questions} q, {self.tokens} tokens"


class QuotaOverride(BaseModel):
    """Per-workspace or per-user daily limits replacing the settings' defaults (empty: keep the default)."""

    workspace = models.OneToOneField(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    questions_per_day = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(workspace__isnull=False, user__isnull=True)
                | models.Q(workspace__isnull=True, user__isnull=False),
                name="quota_override_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"quota for {self.workspace or self.user}"
