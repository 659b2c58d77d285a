"""Read-only API tokens (issue 13, finding 9): chosen in the token API and on the Account page, and enforced for
every API operation from the outside (``Authorization: Bearer``), whatever the view."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import ApiTokenScope, User, Workspace
from accounts.tests.factories import PASSWORD
from chat.models import Conversation, Message
from documents.models import Document

pytestmark = pytest.mark.django_db


def _token(api_client_for, user: User, **scope: str) -> dict:
    """A token through the token API: the response body (``token``, ``token_key``, ``expiry``, ``scope``)."""
    body = {"email": user.email, "password": PASSWORD, **scope}
    response = api_client_for(None).post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _bearer(api_client_for, token: str) -> APIClient:
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _refused(response) -> None:
    assert response.status_code == 403, response.content
    body = response.json()
    assert body["code"] == "token_read_only"
    assert "read-only" in body["detail"]


@pytest.fixture
def tokens(alice, api_client_for):
    """alice's full and read-only clients, a document and a conversation she made with the full token."""
    full_body = _token(api_client_for, alice)
    read_body = _token(api_client_for, alice, scope="read")
    assert full_body["scope"] == "full"  # the default, echoed
    assert read_body["scope"] == "read"
    full = _bearer(api_client_for, full_body["token"])
    read = _bearer(api_client_for, read_body["token"])
    upload = full.post("/api/v1/documents/", {"file": SimpleUploadedFile("a.txt", b"alpha words")}, format="multipart")
    assert upload.status_code == 201, upload.content
    conversation = full.post("/api/v1/conversations/", {"title": "Mine"}, format="json")
    assert conversation.status_code == 201, conversation.content
    return full, read, upload.json()["id"], conversation.json()["id"]


def test_read_only_token_reads(alice, tokens):
    _, read, document_id, conversation_id = tokens
    assert read.get("/api/v1/me/").json()["email"] == alice.email
    assert [d["id"] for d in read.get("/api/v1/documents/").json()["results"]] == [document_id]
    assert read.get(f"/api/v1/documents/{document_id}/").status_code == 200
    assert read.get(f"/api/v1/conversations/{conversation_id}/").json()["title"] == "Mine"


def test_read_only_token_cannot_write_anything(alice, tokens):
    _, read, document_id, conversation_id = tokens
    documents, conversations, messages, workspaces = (
        Document.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Workspace.objects.count(),
    )
    new_file = {"file": SimpleUploadedFile("b.txt", b"beta words")}
    _refused(read.post("/api/v1/documents/", new_file, format="multipart"))
    _refused(read.post(f"/api/v1/documents/{document_id}/versions/", new_file, format="multipart"))
    _refused(read.post(f"/api/v1/documents/{document_id}/reprocess/"))
    _refused(read.post("/api/v1/documents/retry-failed/"))
    _refused(read.delete(f"/api/v1/documents/{document_id}/"))
    _refused(read.post("/api/v1/conversations/", {"title": "x"}, format="json"))
    _refused(read.patch(f"/api/v1/conversations/{conversation_id}/", {"title": "renamed"}, format="json"))
    _refused(read.delete(f"/api/v1/conversations/{conversation_id}/"))
    _refused(read.post(f"/api/v1/conversations/{conversation_id}/messages/", {"content": "hi?"}, format="json"))
    _refused(read.post("/api/v1/workspaces/", {"name": "New"}, format="json"))
    # Minting another token needs the password, but a request carrying a read-only token writes nothing at all.
    mint = read.post("/api/v1/auth/token/", {"email": alice.email, "password": PASSWORD}, format="json")
    _refused(mint)
    assert (
        Document.objects.count(),
        Conversation.objects.count(),
        Message.objects.count(),
        Workspace.objects.count(),
    ) == (documents, conversations, messages, workspaces)
    assert AuthToken.objects.filter(user=alice).count() == 2
    assert Conversation.objects.get(pk=conversation_id).title == "Mine"
    assert Document.objects.filter(pk=document_id).exists()


def test_full_token_still_writes(tokens):
    full, _, document_id, conversation_id = tokens
    assert (
        full.patch(f"/api/v1/conversations/{conversation_id}/", {"title": "Renamed"}, format="json").status_code == 200
    )
    assert full.post("/api/v1/workspaces/", {"name": "New"}, format="json").status_code == 201
    assert full.delete(f"/api/v1/documents/{document_id}/").status_code == 204
    assert not Document.objects.filter(pk=document_id).exists()


def test_read_only_token_may_search(tokens):
    """Search is a POST only to keep the query out of URLs; it writes nothing, so a read-only token may search."""
    _, read, _, _ = tokens
    response = read.post("/api/v1/search/", {"query": "alpha", "mode": "bm25"}, format="json")
    assert response.status_code == 200, response.content


def test_read_only_token_revokes_only_itself(alice, tokens):
    """The token API revokes only the token in use; a read-only token may do that (it only loses access), and
    no API operation lets it revoke another token."""
    full, read, _, _ = tokens
    assert read.delete("/api/v1/auth/token/").status_code == 204
    assert read.get("/api/v1/me/").status_code == 401
    assert full.get("/api/v1/me/").status_code == 200
    assert list(ApiTokenScope.objects.filter(token__user=alice).values_list("scope", flat=True)) == ["full"]


def test_token_without_a_scope_row_has_full_access(alice, api_client_for):
    """Tokens made before scopes existed keep working as before."""
    _, secret = AuthToken.objects.create(user=alice)
    response = _bearer(api_client_for, secret).post("/api/v1/workspaces/", {"name": "Legacy"}, format="json")
    assert response.status_code == 201


def test_unknown_scope_is_a_validation_error(alice, api_client_for):
    body = {"email": alice.email, "password": PASSWORD, "scope": "admin"}
    response = api_client_for(None).post("/api/v1/auth/token/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"scope"}
    assert not AuthToken.objects.filter(user=alice).exists()


def test_session_requests_are_not_limited(alice, client_for):
    """A browser session is not a token: a read-only token elsewhere does not restrict it."""
    client = client_for(alice)
    response = client.post(reverse("accounts:token_create"), {"scope": "read"})
    assert response.status_code == 302
    response = client.post("/api/v1/workspaces/", {"name": "From the browser"}, content_type="application/json")
    assert response.status_code == 201


def test_account_page_chooses_and_shows_the_scope(alice, client_for):
    client = client_for(alice)
    page = client.get(reverse("accounts:account")).content.decode()
    assert 'name="scope" value="full"' in page and 'name="scope" value="read"' in page
    client.post(reverse("accounts:token_create"), {"scope": "read"})
    client.post(reverse("accounts:token_create"))  # no choice: full access
    scopes = dict(ApiTokenScope.objects.filter(token__user=alice).values_list("token__token_key", "scope"))
    assert sorted(scopes.values()) == ["full", "read"]
    page = client.get(reverse("accounts:account")).content.decode()
    for key, scope in scopes.items():
        label = "Read-only" if scope == "read" else "Full access"
        assert f'<code>{key}…</code></td><td class="token-scope">{label}</td>' in page
    response = client.post(reverse("accounts:token_create"), {"scope": "admin"}, follow=True)
    assert "Choose the token" in response.content.decode()
    assert AuthToken.objects.filter(user=alice).count() == 2
