"""REST API for chat: conversations, questions (JSON or server-sent events) and feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import workspace_get_for_request
from chat.answering import Event, answer_stream, message_payload, question_accept
from chat.models import Conversation, Message
from chat.selectors import conversation_get, conversation_list, message_get_for_user, message_list
from chat.services import conversation_create, conversation_delete, conversation_rename, feedback_record


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets clients send ``Accept: text/event-stream``; the streaming response renders itself."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


def sse(events: Iterator[Event]) -> Iterator[bytes]:
    """Server-sent events framing (``event:``/``data:`` lines, blank line between events)."""
    yield b": stream open\n\n"  # sent at once, so proxies and browsers start reading
    for event in events:
        yield f"event: {event.name}\ndata: {json.dumps(event.data, ensure_ascii=False)}\n\n".encode()


def event_stream_response(events: Iterator[Event]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(sse(events), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


class ConversationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    workspace = serializers.IntegerField(source="workspace_id")
    title = serializers.CharField()
    document_ids = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_document_ids(self, conversation: Conversation) -> list[int]:
        return [d.pk for d in conversation.documents.all()]


class CitationOutput(serializers.Serializer):
    marker = serializers.IntegerField()
    chunk_id = serializers.IntegerField(allow_null=True)
    document_id = serializers.IntegerField(allow_null=True)
    document_title = serializers.CharField()
    page_start = serializers.IntegerField(allow_null=True)
    page_end = serializers.IntegerField(allow_null=True)
    quote = serializers.CharField()


class MessageOutput(serializers.Serializer):
    """Schema of an answer (the payload is built by ``chat.answering.message_payload``)."""

    id = serializers.IntegerField()
    answer = serializers.CharField()
    html = serializers.CharField(help_text="The answer as sanitized HTML, citation markers as links.")
    citations = CitationOutput(many=True)
    provider = serializers.CharField()
    model = serializers.CharField()
    fallback_used = serializers.BooleanField()
    latency_ms = serializers.IntegerField()


def _message_json(message: Message) -> dict[str, Any]:
    if message.role == Message.Role.USER:
        return {"id": message.pk, "role": "user", "content": message.content, "created_at": message.created_at}
    citations = list(message.citations.all())
    return {"role": "assistant", "created_at": message.created_at, **message_payload(message, citations)}


class ConversationListApi(APIView):
    class ConversationFilter(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)

    class ConversationCreateInput(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)
        title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        document_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), required=False, allow_empty=False, max_length=1000
        )

    @extend_schema(parameters=[ConversationFilter], responses=ConversationOutput(many=True))
    def get(self, request: Request) -> Response:
        params = self.ConversationFilter(data=request.query_params)
        params.is_valid(raise_exception=True)
        workspace = workspace_get_for_request(user=request.user, workspace_id=params.validated_data.get("workspace"))
        conversations = conversation_list(user=request.user, workspace=workspace).prefetch_related("documents")
        return Response(ConversationOutput(conversations[:200], many=True).data)

    @extend_schema(request=ConversationCreateInput, responses={201: ConversationOutput})
    def post(self, request: Request) -> Response:
        data = self.ConversationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        workspace = workspace_get_for_request(user=request.user, workspace_id=data.validated_data.get("workspace"))
        conversation = conversation_create(
            user=request.user,
            workspace=workspace,
            title=data.validated_data["title"],
            document_ids=data.validated_data.get("document_ids"),
        )
        return Response(ConversationOutput(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailApi(APIView):
    class ConversationRenameInput(serializers.Serializer):
        title = serializers.CharField(max_length=200)

    @extend_schema(responses=ConversationOutput)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        body = ConversationOutput(conversation).data
        body["messages"] = [_message_json(m) for m in message_list(conversation=conversation)]
        return Response(body)

    @extend_schema(request=ConversationRenameInput, responses=ConversationOutput)
    def patch(self, request: Request, conversation_id: int) -> Response:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        data = self.ConversationRenameInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ConversationOutput(conversation_rename(conversation=conversation, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        conversation_delete(conversation=conversation_get(user=request.user, conversation_id=conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageCreateApi(APIView):
    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    class MessageCreateInput(serializers.Serializer):
        content = serializers.CharField(max_length=4000)
        stream = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=MessageCreateInput,
        responses={201: MessageOutput, (200, "text/event-stream"): str},
        parameters=[OpenApiParameter("Accept", str, OpenApiParameter.HEADER, required=False)],
        description="Ask a question. With `stream: true` the answer arrives as server-sent events: `token` "
        "({text}), `restart` (discard the partial answer: a provider failed), `citations`, `done` (the message, "
        "as in the JSON answer) or `error`. Otherwise the JSON message: {id, answer, citations: [{marker, "
        "chunk_id, document_id, document_title, page_start, page_end, quote}], provider, model, fallback_used, "
        "latency_ms}. 429 with Retry-After when a daily quota is reached.",
    )
    def post(self, request: Request, conversation_id: int) -> Any:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        data = self.MessageCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        question = question_accept(conversation=conversation, user=request.user, content=data.validated_data["content"])
        events = answer_stream(conversation=conversation, question=question)
        if data.validated_data["stream"]:
            return event_stream_response(events)
        done: dict[str, Any] | None = None
        for event in events:
            if event.name == "done":
                done = event.data
            elif event.name == "error":
                return Response({"detail": event.data["detail"], "code": event.data["code"]}, status=500)
        return Response(done, status=status.HTTP_201_CREATED)


class FeedbackApi(APIView):
    class FeedbackInput(serializers.Serializer):
        rating = serializers.ChoiceField(choices=[1, -1])
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    class FeedbackOutput(serializers.Serializer):
        message = serializers.IntegerField()
        rating = serializers.IntegerField()
        comment = serializers.CharField()

    @extend_schema(request=FeedbackInput, responses=FeedbackOutput)
    def post(self, request: Request, message_id: int) -> Response:
        message = message_get_for_user(user=request.user, message_id=message_id)
        data = self.FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = feedback_record(message=message, user=request.user, **data.validated_data)
        return Response({"message": message.pk, "rating": feedback.rating, "comment": feedback.comment})
