"""Writes of the chat app: conversations and feedback (answering lives in ``chat.answering``)."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User, Workspace
from chat.models import Conversation, Feedback, Message
from documents.models import Document
from retrieval.selectors import check_document_ids


@transaction.atomic
def conversation_create(
    *, user: User, workspace: Workspace, title: str = "", document_ids: list[int] | None = None
) -> Conversation:
    """A new conversation, optionally limited to documents of the workspace.
    Raises InvalidDocumentFilter (400) for ids that are not the workspace's documents."""
    ids = check_document_ids(workspace=workspace, document_ids=document_ids)
    conversation = Conversation.objects.create(user=user, workspace=workspace, title=title.strip()[:200])
    if ids:
        conversation.documents.set(Document.objects.filter(workspace=workspace, pk__in=ids))
    return conversation


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def feedback_record(*, message: Message, user: User, rating: int, comment: str = "") -> Feedback:
    """Thumbs up (1) or down (-1) with an optional comment; a second vote by the same user replaces the first."""
    if rating not in (1, -1):
        raise ValueError("rating must be 1 or -1")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, user=user, defaults={"rating": rating, "comment": comment.strip()[:2000]}
    )
    return feedback
