"""The chat API's output shapes: one set of serializers produces the JSON responses, the ``done`` event of a
streamed answer, the chat page's answers and the OpenAPI schema (drf-spectacular reads the same classes)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from chat.models import Citation, Conversation, Feedback, Message
from chat.rendering import render_answer
from chat.selectors import message_list


class CitationOutput(serializers.Serializer):
    """A verified citation ``[marker]`` of an answer; ``quote`` is the cited chunk's text, ``support`` the share
    (0–1) of the citing sentence's words found in it, pages those of the supporting sentence (slides for a
    presentation: ``page_label``)."""

    id = serializers.IntegerField()
    marker = serializers.IntegerField()
    chunk_id = serializers.IntegerField(allow_null=True)
    document_id = serializers.IntegerField(allow_null=True)
    document_title = serializers.CharField()
    page_start = serializers.IntegerField(allow_null=True)
    page_end = serializers.IntegerField(allow_null=True)
    page_label = serializers.CharField(help_text='How the pages are cited: "page 3", "pages 3–4", "slide 2", or "".')
    quote = serializers.CharField()
    support = serializers.SerializerMethodField()

    def get_support(self, citation: Citation) -> float:
        return round(citation.support, 3)


class RankOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    score = serializers.FloatField()


class RetrievedOutput(serializers.Serializer):
    """One source the answer was given (marker n), with its fused score and its rank in each list."""

    marker = serializers.IntegerField()
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    score = serializers.FloatField()
    bm25 = RankOutput(allow_null=True)
    vector = RankOutput(allow_null=True)


class FallbackOutput(serializers.Serializer):
    provider = serializers.CharField()
    error = serializers.CharField()


class CitationIssueOutput(serializers.Serializer):
    """A marker removed from the answer: no such source, or not supported by it (``support`` below the minimum)."""

    marker = serializers.IntegerField()
    reason = serializers.CharField()
    support = serializers.FloatField(required=False)


class MessageOutput(serializers.Serializer):
    """An assistant message (an answer): the JSON answer, the ``done`` event's data, a turn of a conversation."""

    id = serializers.IntegerField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
    answer = serializers.CharField(source="content", allow_blank=True)
    html = serializers.SerializerMethodField(help_text="The answer as sanitized HTML, citation markers as links.")
    citations = CitationOutput(many=True, source="citations.all")
    provider = serializers.CharField()
    model = serializers.CharField(allow_blank=True)
    fallback_used = serializers.BooleanField()
    fallbacks = FallbackOutput(many=True)
    not_covered = serializers.BooleanField()
    latency_ms = serializers.IntegerField(allow_null=True)
    first_token_ms = serializers.IntegerField(allow_null=True)
    standalone_query = serializers.CharField(allow_blank=True)
    citation_issues = CitationIssueOutput(many=True)
    retrieved = RetrievedOutput(many=True)

    def get_html(self, message: Message) -> str:
        return render_answer(message.content, list(message.citations.all()))  # prefetched where messages are listed


class QuestionOutput(serializers.Serializer):
    """A user message (a question)."""

    id = serializers.IntegerField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
    content = serializers.CharField()


def turn_output(message: Message) -> dict[str, Any]:
    """One message of a conversation as the API shows it: ``QuestionOutput`` or ``MessageOutput`` by role."""
    serializer = QuestionOutput if message.role == Message.Role.USER else MessageOutput
    return serializer(message).data


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    title = serializers.CharField(allow_blank=True)
    document_ids = serializers.SerializerMethodField()
    scoped = serializers.BooleanField(
        help_text="Limited to chosen documents (document_ids; empty when they were all deleted since)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_document_ids(self, conversation: Conversation) -> list[int]:
        return [d.pk for d in conversation.documents.all()]


class ConversationDetailOutput(ConversationOutput):
    """A conversation with its messages in order (questions and answers)."""

    messages = serializers.SerializerMethodField()

    @extend_schema_field(
        PolymorphicProxySerializer(
            component_name="Turn",
            serializers={"user": QuestionOutput, "assistant": MessageOutput},
            resource_type_field_name="role",
            many=True,
        )
    )
    def get_messages(self, conversation: Conversation) -> list[dict[str, Any]]:
        return [turn_output(m) for m in message_list(conversation=conversation)]


class FeedbackOutput(serializers.Serializer):
    message = serializers.IntegerField(source="message_id")
    rating = serializers.ChoiceField(choices=Feedback.Rating.choices)
    comment = serializers.CharField(allow_blank=True)
