"""Documents through an API token limited to one workspace (issue 13, finding 9): every document operation of
another workspace of the same user answers 404 exactly as for a non-member, its own workspace works, and an
omitted ``workspace`` means the token's workspace."""

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD
from documents.models import Document, DocumentVersion
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


@pytest.fixture
def documents(alice, workspace) -> tuple[Document, Document]:
    """A document in alice's personal workspace and one in Acme (both ready, with chunks)."""
    personal = ingest_text(workspace_get_personal(user=alice), "Private notes about volcanoes.", title="Mine")
    shared = ingest_text(workspace, "Team notes about bread and yeast.", title="Team")
    return personal, shared


def _operations(client: APIClient, document_id: int) -> dict[str, Any]:
    """Every document operation on ``document_id``: name -> response."""
    url = f"/api/v1/documents/{document_id}/"
    new_file = {"file": SimpleUploadedFile("v2.txt", b"replaced words")}
    return {
        "detail": client.get(url),
        "chunks": client.get(f"{url}chunks/"),
        "file": client.get(f"{url}file/"),
        "reprocess": client.post(f"{url}reprocess/"),
        "version": client.post(f"{url}versions/", new_file, format="multipart"),
        "delete": client.delete(url),
    }


def test_other_workspace_documents_answer_as_for_a_non_member(alice, charlie, workspace, documents, api_client_for):
    personal_doc, _ = documents
    limited = _bearer(api_client_for, alice, workspace=workspace.pk)
    outsider = _bearer(api_client_for, charlie)
    mine, theirs = _operations(limited, personal_doc.pk), _operations(outsider, personal_doc.pk)
    for name, response in mine.items():
        assert response.status_code == 404, (name, response.content)
        assert response.json() == theirs[name].json(), name
    assert Document.objects.filter(pk=personal_doc.pk).exists()
    assert DocumentVersion.objects.filter(document=personal_doc).count() == 1


def test_own_workspace_documents_work(alice, workspace, documents, api_client_for):
    _, team_doc = documents
    limited = _bearer(api_client_for, alice, workspace=workspace.pk)
    url = f"/api/v1/documents/{team_doc.pk}/"
    assert limited.get(url).json()["title"] == "Team"
    assert limited.get(f"{url}chunks/").json()["count"] >= 1
    file = limited.get(f"{url}file/")
    assert isinstance(file, FileResponse)
    assert file.getvalue() == b"Team notes about bread and yeast."
    assert limited.delete(url).status_code == 204


def test_document_list_and_upload_stay_in_the_token_workspace(alice, workspace, documents, api_client_for):
    personal_doc, team_doc = documents
    personal = workspace_get_personal(user=alice)
    limited = _bearer(api_client_for, alice, workspace=workspace.pk)
    # Omitted, the workspace is the token's (not her personal one, the default of unlimited tokens).
    assert [d["id"] for d in limited.get("/api/v1/documents/").json()["results"]] == [team_doc.pk]
    assert limited.get("/api/v1/documents/", {"workspace": workspace.pk}).status_code == 200
    assert limited.get("/api/v1/documents/", {"workspace": personal.pk}).status_code == 404
    upload = limited.post("/api/v1/documents/", {"file": SimpleUploadedFile("n.txt", b"new notes")}, format="multipart")
    assert upload.status_code == 201, upload.content
    assert upload.json()["workspace"] == workspace.pk
    refused = limited.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("x.txt", b"sneaky"), "workspace": personal.pk},
        format="multipart",
    )
    assert refused.status_code == 404, refused.content
    assert list(Document.objects.filter(workspace=personal)) == [personal_doc]
    retry = limited.post("/api/v1/documents/retry-failed/", {"workspace": personal.pk}, format="json")
    assert retry.status_code == 404
    assert limited.post("/api/v1/documents/retry-failed/", {}, format="json").json() == {"queued": 0}


def test_unlimited_token_still_defaults_to_the_personal_workspace(alice, documents, api_client_for):
    personal_doc, _ = documents
    full = _bearer(api_client_for, alice)
    assert [d["id"] for d in full.get("/api/v1/documents/").json()["results"]] == [personal_doc.pk]
