"""Factories and helpers for chat tests: conversations, questions, small corpora, and the API calls that ask."""

from __future__ import annotations

import json
from typing import Any

import factory
from django.http import StreamingHttpResponse

from accounts.tests.factories import UserFactory, WorkspaceFactory
from chat.models import Conversation, Message

# Two tiny documents with unrelated topics (title, text).
VOLCANO = (
    "Volcanoes",
    "Magma rises through the crust and erupts as lava. Volcanic ash can ground aircraft for days. "
    "The 2010 eruption of Eyjafjallajokull closed European airspace for six days.",
)
BREAD = (
    "Bread",
    "Yeast ferments the sugars in dough and releases carbon dioxide. The gas makes bread rise before "
    "baking. A sourdough starter is a culture of wild yeast and lactobacilli.",
)


class ConversationFactory(factory.django.DjangoModelFactory[Conversation]):
    """A conversation of a new user in a new workspace (pass ``user`` and ``workspace`` for real ones)."""

    class Meta:
        model = Conversation

    user = factory.SubFactory(UserFactory)
    workspace = factory.SubFactory(WorkspaceFactory)
    title = ""


class QuestionFactory(factory.django.DjangoModelFactory[Message]):
    """A stored user message (a question waiting for its answer)."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    content = "What makes bread rise?"


def ask(client: Any, conversation_id: int, content: str, **extra: object) -> Any:
    """POST a question through the API (``stream=True`` for server-sent events)."""
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages/", {"content": content, **extra}, format="json"
    )


def sse_events(response: StreamingHttpResponse) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a server-sent-events response, in order."""
    raw = b"".join(response.streaming_content).decode()  # type: ignore[arg-type]  # a sync stream: bytes
    out = []
    for frame in raw.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines() if line.startswith(("event: ", "data: ")))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out
