"""Chat pages: conversation list, create/rename/delete, the citation in context, usage for managers."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.selectors import workspace_get_personal
from chat.models import Citation, Conversation
from chat.tests.factories import BREAD, ask
from documents.models import WorkspaceLimitOverride
from retrieval.tests.factories import ingest_text

pytestmark = pytest.mark.django_db


def test_create_rename_delete(alice, client_for):
    client = client_for(alice)
    response = client.post("/chat/new/")
    conversation = Conversation.objects.get(user=alice)
    assert response.status_code == 302 and response["Location"] == f"/chat/{conversation.pk}/"
    client.post(f"/chat/{conversation.pk}/rename/", {"title": "Baking notes"})
    assert "Baking notes" in client.get("/chat/").content.decode()
    client.post(f"/chat/{conversation.pk}/delete/")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_answers_and_citations_render_in_the_page(alice, api_client_for, client_for):
    space = workspace_get_personal(user=alice)
    ingest_text(space, BREAD[1], title=BREAD[0])
    conversation = api_client_for(alice).post("/api/v1/conversations/", {}, format="json").json()["id"]
    body = ask(api_client_for(alice), conversation, "What makes bread rise?").json()
    html = client_for(alice).get(f"/chat/{conversation}/").content.decode()
    assert "What makes bread rise?" in html and "The gas makes bread rise before baking." in html
    citation = Citation.objects.get(message_id=body["id"], marker=body["citations"][0]["marker"])
    assert f'href="/chat/citations/{citation.pk}/"' in html

    page = client_for(alice).get(f"/chat/citations/{citation.pk}/").content.decode()
    found = re.search(r'<strong id="cited-passage"[^>]*>(.*?)</strong>', page, re.DOTALL)
    passage = found.group(1) if found else ""
    assert passage and passage in body["answer"]  # the sentence of the chunk that the answer quotes
    assert f"/documents/{citation.document_id}/" in page


def test_usage_page_is_for_owners_and_admins(alice, bob, workspace, client_for):
    owner = client_for(alice)
    _switch(owner, workspace)
    assert "Usage in Acme" in owner.get("/chat/usage/").content.decode()
    member = client_for(bob)
    _switch(member, workspace)
    response = member.get("/chat/usage/", follow=True)
    assert "Usage in Acme" not in response.content.decode()


def test_usage_page_shows_documents_storage_and_chunks_against_the_workspace_s_limits(
    alice, workspace, client_for, settings
):
    settings.WORKSPACE_DOCUMENTS_MAX = 40
    settings.DOCUMENT_MAX_PAGES = 300
    ingest_text(workspace, BREAD[1], title=BREAD[0])
    WorkspaceLimitOverride.objects.create(workspace=workspace, chunks_max=1500, storage_max_bytes=2_000_000_000)
    owner = client_for(alice)
    _switch(owner, workspace)

    page = owner.get("/chat/usage/").content.decode()

    table = page[page.index('id="workspace-storage"') : page.index("</table>", page.index('id="workspace-storage"'))]
    assert "1 of 40 documents" in table  # the setting
    assert "0.00 of 2 GB stored" in table and "1 of 1,500 chunks" in table  # the workspace's own limits
    assert "at most 300 PDF pages" in page
    assert "Today the workspace asked 0 of" in page  # the chat quotas are still shown


def _switch(client: Client, workspace) -> None:
    """Make ``workspace`` the session's current workspace, through the real switch view."""
    response = client.post("/workspaces/switch/", {"workspace_id": workspace.pk})
    assert response.status_code == 302, response.status_code


def test_it_checks_access(alice, charlie, client_for):
    client = client_for(alice)
    client.post("/chat/new/")
    conversation = Conversation.objects.get(user=alice)
    outsider = client_for(charlie)
    for url in (f"/chat/{conversation.pk}/",):
        assert outsider.get(url).status_code == 404
    for url in (f"/chat/{conversation.pk}/rename/", f"/chat/{conversation.pk}/delete/"):
        assert outsider.post(url, {"title": "mine"}).status_code == 404
    assert Conversation.objects.filter(pk=conversation.pk, title="").exists()


def test_a_conversation_can_be_limited_to_chosen_documents(alice, charlie, api_client_for, client_for):
    space = workspace_get_personal(user=alice)
    bread = ingest_text(space, BREAD[1], title=BREAD[0])
    ingest_text(space, "Magma rises through the crust and erupts as lava.", title="Volcanoes")
    client = client_for(alice)
    assert "Limit to documents" in client.get("/chat/").content.decode()
    client.post("/chat/new/", {"document_ids": [str(bread.pk)]})
    conversation = Conversation.objects.get(user=alice)
    assert list(conversation.documents.all()) == [bread]
    page = client.get(f"/chat/{conversation.pk}/").content.decode()
    assert "Answers only from:" in page and "Volcanoes" not in page.split("Answers only from:")[1].split("</p>")[0]
    body = ask(api_client_for(alice), conversation.pk, "What erupts as lava?").json()
    assert all(c["document_id"] == bread.pk for c in body["citations"])  # never the volcano document

    # charlie cannot scope his conversation to alice's document: a clear message, nothing created
    response = client_for(charlie).post("/chat/new/", {"document_ids": [str(bread.pk)]}, follow=True)
    assert not Conversation.objects.filter(user=charlie).exists()
    assert "Bread" not in response.content.decode()
