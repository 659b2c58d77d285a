"""Search through an API token limited to one workspace (issue 13, finding 9): another workspace of the same user
answers 404 as for a non-member, and an omitted ``workspace`` searches the token's workspace."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD
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


@pytest.mark.parametrize("scope", ["full", "read"])
def test_limited_token_searches_only_its_workspace(alice, charlie, workspace, api_client_for, scope):
    personal = workspace_get_personal(user=alice)
    secret = ingest_text(personal, "The volcano password is lava.", title="Secret")
    team = ingest_text(workspace, "The volcano in the team notes erupts.", title="Team")
    limited = _bearer(api_client_for, alice, workspace=workspace.pk, scope=scope)
    outsider = _bearer(api_client_for, charlie)

    def search(client: APIClient, **extra: object):
        return client.post("/api/v1/search/", {"query": "volcano", "mode": "bm25", **extra}, format="json")

    hits = search(limited).json()["results"]
    assert {h["document_id"] for h in hits} == {team.pk}
    assert {h["document_id"] for h in search(limited, workspace=workspace.pk).json()["results"]} == {team.pk}
    refused, theirs = search(limited, workspace=personal.pk), search(outsider, workspace=personal.pk)
    assert refused.status_code == theirs.status_code == 404
    assert refused.json() == theirs.json()
    # Naming the other workspace's documents in a search of its own workspace: unknown there, as for an outsider.
    scoped = search(limited, document_ids=[secret.pk])
    assert scoped.status_code == 400, scoped.content
    assert scoped.json()["detail"] == f"Unknown document id(s) in this workspace: {secret.pk}."
