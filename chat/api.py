"""REST API for chat: conversations, questions (JSON or server-sent events) and feedback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.permissions import workspace_get_for_request
from chat.models import Feedback
from chat.pipeline import Event
from chat.selectors import conversation_get, conversation_list, message_get_for_user
from chat.serializers import ConversationDetailOutput, ConversationOutput, FeedbackOutput, MessageOutput
from chat.services import (
    conversation_create,
    conversation_delete,
    conversation_rename,
    feedback_record,
    message_answer,
    question_accept,
)

logger = logging.getLogger(__name__)

ANSWER_NOT_SHOWN = "The answer was saved but could not be shown. Reload the page to see it."


class EventStreamRenderer(renderers.BaseRenderer):
    """Lets clients send ``Accept: text/event-stream``; the streaming response renders itself."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return json.dumps(data).encode()


# One server-sent event of a streamed answer (``sse``); its data is the JSON the view's description gives per event.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["token", "restart", "citations", "done", "error"]},
        "data": {"type": "string", "description": "JSON"},
    },
    "required": ["event", "data"],
}


class JsonUnlessStreamingMixin:
    """Errors (and the JSON answer) are ``application/json`` even when the client asked for a stream: only the
    ``StreamingHttpResponse`` of ``event_stream_response`` is ``text/event-stream``."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and isinstance(
            getattr(request, "accepted_renderer", None), EventStreamRenderer
        ):
            request.accepted_renderer, request.accepted_media_type = renderers.JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]


def sse(events: Iterator[Event]) -> Iterator[bytes]:
    """Server-sent events framing (``event:``/``data:`` lines, blank line between events). The ``done`` event also
    carries ``fragment``: the answer rendered by the chat page's own template, so the page shows it as is."""
    yield b": stream open\n\n"  # sent at once, so proxies and browsers start reading
    for event in events:
        name, data = event.name, event.data
        if name == "done":
            try:
                data = {**data, "fragment": render_to_string("chat/_answer.html", {"p": data})}
            except Exception:  # the answer is stored; say so rather than end the stream without a word
                logger.exception("rendering the answer fragment of message %s failed", data.get("id"))
                name, data = "error", {"detail": ANSWER_NOT_SHOWN, "code": "error"}
        yield f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, cls=DjangoJSONEncoder)}\n\n".encode()


def event_stream_response(events: Iterator[Event]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(sse(events), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


class ConversationListApi(APIView):
    class ConversationFilter(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)

    class ConversationCreateInput(serializers.Serializer):
        workspace = serializers.IntegerField(required=False)
        title = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
        document_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), required=False, min_length=1, max_length=1000
        )

    @extend_schema(parameters=[ConversationFilter], responses=ConversationOutput(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        params = self.ConversationFilter(data=request.query_params)
        params.is_valid(raise_exception=True)
        workspace = workspace_get_for_request(user=request.user, workspace_id=params.validated_data.get("workspace"))
        conversations = conversation_list(user=request.user, workspace=workspace).prefetch_related("documents")
        return Response(ConversationOutput(conversations[:200], many=True).data)

    @extend_schema(request=ConversationCreateInput, responses={201: ConversationOutput})
    def post(self, request: AuthenticatedRequest) -> Response:
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

    @extend_schema(responses=ConversationDetailOutput)
    def get(self, request: AuthenticatedRequest, conversation_id: int) -> Response:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(ConversationDetailOutput(conversation).data)

    @extend_schema(request=ConversationRenameInput, responses=ConversationOutput)
    def patch(self, request: AuthenticatedRequest, conversation_id: int) -> Response:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        data = self.ConversationRenameInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ConversationOutput(conversation_rename(conversation=conversation, **data.validated_data)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, conversation_id: int) -> Response:
        conversation_delete(conversation=conversation_get(user=request.user, conversation_id=conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageCreateApi(JsonUnlessStreamingMixin, APIView):
    renderer_classes = [renderers.JSONRenderer, EventStreamRenderer]

    class MessageCreateInput(serializers.Serializer):
        content = serializers.CharField(max_length=settings.CHAT_MESSAGE_MAX_CHARS)
        stream = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=MessageCreateInput,
        responses={201: MessageOutput, (200, "text/event-stream"): SSE_EVENT_SCHEMA},
        parameters=[
            OpenApiParameter(
                "Accept", str, OpenApiParameter.HEADER, required=False, enum=["application/json", "text/event-stream"]
            )
        ],
        description="Ask a question. With `stream: true` the answer arrives as server-sent events: `token` "
        "({text}), `restart` (discard the partial answer: a provider failed), `citations` ({citations}), `done` "
        "(the message, as in the JSON answer, plus `fragment`: the answer as the chat page renders it) or `error` "
        "({detail, code}). Otherwise the JSON message. 429 with Retry-After when a daily quota is reached.",
    )
    def post(self, request: AuthenticatedRequest, conversation_id: int) -> Any:
        conversation = conversation_get(user=request.user, conversation_id=conversation_id)
        data = self.MessageCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        question = question_accept(conversation=conversation, user=request.user, content=data.validated_data["content"])
        events = message_answer(conversation=conversation, question=question)
        if data.validated_data["stream"]:
            return event_stream_response(events)
        for event in events:
            if event.name == "done":
                return Response(event.data, status=status.HTTP_201_CREATED)
            if event.name == "error":
                return Response(event.data, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
        raise AssertionError("message_answer ends with a done or an error event")


class FeedbackApi(APIView):
    class FeedbackInput(serializers.Serializer):
        rating = serializers.ChoiceField(choices=Feedback.Rating.choices)
        comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    @extend_schema(request=FeedbackInput, responses=FeedbackOutput)
    def post(self, request: AuthenticatedRequest, message_id: int) -> Response:
        message = message_get_for_user(user=request.user, message_id=message_id)
        data = self.FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        feedback = feedback_record(message=message, user=request.user, **data.validated_data)
        return Response(FeedbackOutput(feedback).data)
