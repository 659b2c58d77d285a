"""Chat through an API token limited to one workspace (issue 13, finding 9): conversations, questions, feedback
and the citations they carry of another workspace of the same user answer 404 as for a non-member; the token's
own workspace works, and an omitted ``workspace`` means it."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User, Workspace
from accounts.tests.factories import PASSWORD
from chat.models import Conversation, Message
from chat.tests.factories import BREAD, ask
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db


def _bearer(api_client_for, user: User, **extra: object) -> APIClient:
    """A client sending a token made through the token API for ``user`` (``extra``: ``scope``, ``workspace``)."""
    body = {"email": user.email, "password": PASSWORD, **extra}
    response = api_client_for(None).post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 201, response.content
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
    return client


def _answered(client: APIClient, workspace: Workspace) -> tuple[int, int]:
    """A conversation in ``workspace`` with one answered question: (conversation id, answer message id)."""
    conversation = client.post("/api/v1/conversations/", {"workspace": workspace.pk}, format="json").json()["id"]
    answer = ask(client, conversation, "What makes bread rise?")
    assert answer.status_code == 201, answer.content
    assert answer.json()["citations"], "the extractive answer cites the document"
    return conversation, answer.json()["id"]


def test_other_workspace_chat_answers_as_for_a_non_member(alice, charlie, workspace, alice_space, api_client_for):
    full = _bearer(api_client_for, alice)
    conversation, message = _answered(full, alice_space)
    limited = _bearer(api_client_for, alice, workspace=workspace.pk)
    outsider = _bearer(api_client_for, charlie)
    url = f"/api/v1/conversations/{conversation}/"

    def calls(client: APIClient) -> dict[str, Any]:
        return {
            "list": client.get("/api/v1/conversations/", {"workspace": alice_space.pk}),
            "create": client.post("/api/v1/conversations/", {"workspace": alice_space.pk}, format="json"),
            "detail": client.get(url),
            "rename": client.patch(url, {"title": "Hijacked"}, format="json"),
            "ask": ask(client, conversation, "What is in the other workspace?"),
            "feedback": client.post(f"/api/v1/messages/{message}/feedback/", {"rating": -1}, format="json"),
            "delete": client.delete(url),
        }

    mine, theirs = calls(limited), calls(outsider)
    for name, response in mine.items():
        assert response.status_code == 404, (name, response.content)
        assert response.json() == theirs[name].json(), name
    assert Conversation.objects.get(pk=conversation).title != "Hijacked"
    assert Message.objects.filter(conversation_id=conversation).count() == 2
    assert Conversation.objects.filter(user=alice).count() == 1


def test_own_workspace_chat_works_and_is_the_default(alice, workspace, alice_space, api_client_for):
    ingest_text(workspace, BREAD[1], title="Team bread")
    full = _bearer(api_client_for, alice)
    _answered(full, alice_space)  # a conversation in her personal workspace, which the limited token must not list
    limited = _bearer(api_client_for, alice, workspace=workspace.pk)
    created = limited.post("/api/v1/conversations/", {"title": "Team"}, format="json")
    assert created.status_code == 201, created.content
    conversation = created.json()["id"]
    assert Conversation.objects.get(pk=conversation).workspace == workspace
    assert [c["id"] for c in limited.get("/api/v1/conversations/").json()] == [conversation]
    answer = ask(limited, conversation, "What makes bread rise?")
    assert answer.status_code == 201, answer.content
    assert {c["document_title"] for c in answer.json()["citations"]} == {"Team bread"}
    assert limited.get(f"/api/v1/conversations/{conversation}/").json()["messages"][-1]["id"] == answer.json()["id"]
    feedback = limited.post(f"/api/v1/messages/{answer.json()['id']}/feedback/", {"rating": 1}, format="json")
    assert feedback.status_code == 200, feedback.content
