"""Writes of the chat app: conversations, questions and their answers, feedback.

The answer path reads top to bottom in ``message_answer``; its steps live in ``chat.pipeline``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import transaction

from accounts.models import User, Workspace
from chat.models import Conversation, Feedback, Message
from chat.pipeline import Event, answer_generate, answer_persist, answer_retrieve, answer_start, answer_verify
from chat.quotas import quota_check, usage_record
from chat.serializers import MessageOutput
from config.text import clip_words
from documents.models import Document
from retrieval.selectors import check_document_ids

logger = logging.getLogger(__name__)

ANSWER_FAILED = "Something went wrong while answering. Please try again."
CONVERSATION_TITLE_CHARS = 80  # a conversation without a title is titled from its first question, cut at a word


def message_answer(*, conversation: Conversation, question: Message) -> Iterator[Event]:
    """Answer ``question`` (a stored user message of ``conversation``) and store the assistant message.

    Yields events: ``token`` ({text}) as the answer is written, ``restart`` ({provider, reason}: discard the
    partial answer), then ``citations`` ({citations: [CitationOutput]}) and ``done`` (the message, as
    ``MessageOutput``). Never raises: an unexpected failure is logged and becomes an ``error`` event
    ({detail, code}), and nothing is stored for the answer.
    """
    try:
        draft = answer_start(conversation=conversation, question=question)
        answer_retrieve(draft)
        yield from answer_generate(draft)
        answer_verify(draft)
        message = answer_persist(draft)
        done = MessageOutput(message).data
        yield Event("citations", {"citations": done["citations"]})
        yield Event("done", dict(done))
    except Exception:
        logger.exception("answering message %s failed", question.pk)
        yield Event("error", {"detail": ANSWER_FAILED, "code": "error"})


def question_accept(*, conversation: Conversation, user: User, content: str) -> Message:
    """Check the quotas, then store the user's question and count it. Raises TooManyRequestsError (429)."""
    quota_check(user=user, workspace=conversation.workspace)
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=content.strip())
        if not conversation.title:
            conversation.title = clip_words(" ".join(content.split()), CONVERSATION_TITLE_CHARS)
        conversation.save(update_fields=["title", "updated_at"])
    usage_record(user=user, workspace=conversation.workspace, questions=1)
    return message


@transaction.atomic
def conversation_create(
    *, user: User, workspace: Workspace, title: str = "", document_ids: list[int] | None = None
) -> Conversation:
    """A new conversation, optionally limited to documents of the workspace.
    Raises InvalidDocumentFilter (400) for ids that are not the workspace's documents."""
    ids = check_document_ids(workspace=workspace, document_ids=document_ids)
    conversation = Conversation.objects.create(
        user=user, workspace=workspace, title=title.strip()[:200], scoped=bool(ids)
    )
    if ids:
        conversation.documents.set(Document.objects.filter(workspace=workspace, pk__in=ids))
    return conversation


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Set the title (whitespace trimmed, at most 200 characters)."""
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete the conversation with its messages, citations and feedback."""
    conversation.delete()


def feedback_record(*, message: Message, user: User, rating: int, comment: str = "") -> Feedback:
    """Thumbs up or down (``Feedback.Rating``) with an optional comment (at most 2,000 characters); a second
    vote by the same user replaces the first. Raises ValueError for another rating."""
    if rating not in Feedback.Rating.values:
        raise ValueError(f"rating must be one of {Feedback.Rating.values}")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, user=user, defaults={"rating": rating, "comment": comment.strip()[:2000]}
    )
    return feedback
