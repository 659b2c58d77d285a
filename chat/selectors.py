"""Reads of the chat app. Conversations are private to their user: anyone else gets 404, even a member of
the same workspace, and outsiders learn nothing about whether a conversation exists."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from accounts.models import User, Workspace
from chat.models import Citation, Conversation, Message
from documents.selectors import VERSION_TEXT_FIELDS


def conversation_list(*, user: User, workspace: Workspace) -> QuerySet[Conversation]:
    return Conversation.objects.filter(user=user, workspace=workspace, workspace__memberships__user=user)


def conversation_get(*, user: User, conversation_id: int) -> Conversation:
    """The user's own conversation in a workspace they still belong to. Raises Http404 otherwise."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id, user=user, workspace__memberships__user=user)
        .select_related("workspace")
        .first()
    )
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    citations = Citation.objects.select_related("version").defer(*VERSION_TEXT_FIELDS)  # for page labels
    return conversation.messages.prefetch_related(Prefetch("citations", queryset=citations), "feedback")


def message_get_for_user(*, user: User, message_id: int) -> Message:
    """An assistant message of one of the user's conversations. Raises Http404 otherwise."""
    message = (
        Message.objects.filter(
            pk=message_id,
            role=Message.Role.ASSISTANT,
            conversation__user=user,
            conversation__workspace__memberships__user=user,
        )
        .select_related("conversation")
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def citation_get_for_user(*, user: User, citation_id: int) -> Citation:
    """A citation of one of the user's answers. Raises Http404 otherwise."""
    citation = (
        Citation.objects.filter(
            pk=citation_id, message__conversation__user=user, message__conversation__workspace__memberships__user=user
        )
        .select_related("version", "document", "message__conversation")
        .first()
    )
    if citation is None:
        raise Http404("No such citation.")
    return citation
