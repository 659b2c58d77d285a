"""API tokens limited to one workspace (issue 13, finding 9): chosen in the token API and on the Account page,
enforced for every API operation from the outside (``Authorization: Bearer``). The documents, search and chat
operations are covered in those apps' ``test_token_workspace_*.py``."""

import pytest
from django.urls import URLResolver, get_resolver
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.auth import URL_KWARG_WORKSPACE
from accounts.models import ApiTokenScope, Membership, User, Workspace
from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _token(api_client_for, user: User, **extra: object) -> dict:
    """A token through the token API: the response body (``token``, ``token_key``, ``expiry``, ``scope``,
    ``workspace``)."""
    response = api_client_for(None).post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD, **extra}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def _bearer(api_client_for, token: str) -> APIClient:
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _limited(api_client_for, user: User, workspace: Workspace, **extra: object) -> APIClient:
    body = _token(api_client_for, user, workspace=workspace.pk, **extra)
    assert body["workspace"] == workspace.pk
    return _bearer(api_client_for, body["token"])


def test_token_api_limits_a_token_to_a_workspace_of_the_user(alice, workspace, api_client_for):
    body = _token(api_client_for, alice, workspace=workspace.pk)
    assert body["workspace"] == workspace.pk and body["scope"] == "full"
    assert ApiTokenScope.objects.get(token__token_key=body["token_key"]).workspace == workspace
    unlimited = _token(api_client_for, alice)
    assert unlimited["workspace"] is None
    assert _token(api_client_for, alice, workspace=None)["workspace"] is None


def test_token_api_refuses_a_workspace_the_user_is_not_a_member_of(alice, charlie, workspace, api_client_for):
    """400 in the DRF error shape, whether the workspace is someone else's or does not exist; no token is made."""
    anon = api_client_for(None)
    missing = max(Workspace.objects.values_list("pk", flat=True)) + 1000
    for workspace_id in (workspace.pk, workspace_get_personal(user=alice).pk, missing):
        response = anon.post(
            "/api/v1/auth/token/",
            {"email": charlie.email, "password": PASSWORD, "workspace": workspace_id},
            format="json",
        )
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["code"] == "invalid"
        assert body["fields"]["workspace"] == ["You are not a member of this workspace."]
    assert not AuthToken.objects.filter(user=charlie).exists()


def test_limited_token_lists_and_reaches_only_its_workspace(alice, workspace, api_client_for):
    personal = workspace_get_personal(user=alice)
    limited = _limited(api_client_for, alice, workspace)
    assert [w["id"] for w in limited.get("/api/v1/workspaces/").json()] == [workspace.pk]
    assert [w["id"] for w in limited.get("/api/v1/me/").json()["workspaces"]] == [workspace.pk]
    assert limited.get(f"/api/v1/workspaces/{workspace.pk}/").json()["name"] == "Acme"
    # Her personal workspace answers exactly as a workspace she is not a member of.
    other = limited.get(f"/api/v1/workspaces/{personal.pk}/")
    missing = limited.get(f"/api/v1/workspaces/{personal.pk + 1000}/")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    # An unlimited token of hers still reaches both.
    full = _bearer(api_client_for, _token(api_client_for, alice)["token"])
    assert {w["id"] for w in full.get("/api/v1/workspaces/").json()} == {workspace.pk, personal.pk}


def test_limited_token_cannot_create_workspaces(alice, workspace, api_client_for):
    limited = _limited(api_client_for, alice, workspace)
    before = Workspace.objects.count()
    response = limited.post("/api/v1/workspaces/", {"name": "Escape"}, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "token_workspace_limited"
    assert Workspace.objects.count() == before


def test_read_only_and_limited_combine(alice, workspace, api_client_for):
    personal = workspace_get_personal(user=alice)
    token = _token(api_client_for, alice, workspace=workspace.pk, scope="read")
    assert (token["scope"], token["workspace"]) == ("read", workspace.pk)
    client = _bearer(api_client_for, token["token"])
    assert client.get(f"/api/v1/workspaces/{workspace.pk}/").status_code == 200
    assert client.get(f"/api/v1/workspaces/{personal.pk}/").status_code == 404
    assert client.post("/api/v1/search/", {"query": "x", "mode": "bm25"}, format="json").status_code == 200
    refused = client.post("/api/v1/workspaces/", {"name": "New"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "token_read_only"
    refused = client.post("/api/v1/conversations/", {"workspace": workspace.pk}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "token_read_only"


def test_token_reaches_nothing_once_the_user_leaves_the_workspace(alice, bob, workspace, api_client_for):
    limited = _limited(api_client_for, bob, workspace)
    full = _bearer(api_client_for, _token(api_client_for, bob)["token"])
    assert limited.get("/api/v1/workspaces/").status_code == 200
    Membership.objects.filter(user=bob, workspace=workspace).delete()
    for path in ("/api/v1/me/", "/api/v1/workspaces/", "/api/v1/documents/", f"/api/v1/workspaces/{workspace.pk}/"):
        response = limited.get(path)
        assert response.status_code == 401, (path, response.content)
        assert response.json()["code"] == "token_workspace_left"
    response = limited.post("/api/v1/search/", {"query": "x"}, format="json")
    assert response.status_code == 401
    # Not widened to his other workspaces: his unlimited token sees his personal one, the limited one nothing.
    assert [w["name"] for w in full.get("/api/v1/workspaces/").json()] == [workspace_get_personal(user=bob).name]


@pytest.mark.parametrize("how", ["instance", "queryset", "admin"])
def test_deleting_the_workspace_deletes_its_limited_tokens(alice, workspace, api_client_for, client_for, how):
    """A token limited to a deleted workspace must not become one for all the user's workspaces."""
    limited_body = _token(api_client_for, alice, workspace=workspace.pk, scope="read")
    limited = _bearer(api_client_for, limited_body["token"])
    full = _bearer(api_client_for, _token(api_client_for, alice)["token"])
    if how == "instance":
        workspace.delete()
    elif how == "queryset":
        Workspace.objects.filter(pk=workspace.pk).delete()
    else:
        staff = client_for(User.objects.create_superuser(email="root@example.com", password="x"))
        confirm = staff.get(f"/admin/accounts/workspace/{workspace.pk}/delete/")
        assert confirm.status_code == 200 and "Acme" in confirm.content.decode()
        response = staff.post(f"/admin/accounts/workspace/{workspace.pk}/delete/", {"post": "yes"})
        assert response.status_code == 302
        assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not AuthToken.objects.filter(token_key=limited_body["token_key"]).exists()
    assert not ApiTokenScope.objects.filter(workspace__isnull=False).exists()
    response = limited.get("/api/v1/workspaces/")
    assert response.status_code == 401, response.content
    assert [w["is_personal"] for w in full.get("/api/v1/workspaces/").json()] == [True]


def test_every_api_url_keyword_has_a_workspace_lookup():
    """Limited tokens refuse URL keywords the table does not know (fail closed): every API route's must be in it."""
    api = next(p for p in get_resolver().url_patterns if isinstance(p, URLResolver) and p.namespace == "api")
    keywords = {name for pattern in api.url_patterns for name in pattern.pattern.converters}
    assert keywords == set(URL_KWARG_WORKSPACE)


def test_account_page_shows_and_creates_a_limited_token(alice, charlie, workspace, client_for):
    client = client_for(alice)
    page = client.get("/profile/").content.decode()
    assert "All my workspaces" in page
    assert f'<option value="{workspace.pk}">Acme</option>' in page
    assert f'value="{workspace_get_personal(user=charlie).pk}"' not in page  # only her own workspaces
    response = client.post("/profile/tokens/", {"scope": "read", "workspace": workspace.pk})
    assert response.status_code == 302
    scope = ApiTokenScope.objects.get(token__user=alice)
    assert (scope.scope, scope.workspace) == ("read", workspace)
    page = client.get("/profile/").content.decode()
    assert "Only “Acme”" in page
    assert "New token" in page
    client.post("/profile/tokens/", {"scope": "full", "workspace": ""})
    assert "All my workspaces</td>" in client.get("/profile/").content.decode()
    assert set(ApiTokenScope.objects.filter(token__user=alice).values_list("workspace", flat=True)) == {
        workspace.pk,
        None,
    }


def test_account_page_refuses_a_workspace_of_someone_else(alice, charlie, client_for):
    client = client_for(charlie)
    response = client.post("/profile/tokens/", {"workspace": workspace_get_personal(user=alice).pk}, follow=True)
    assert "Choose the token" in response.content.decode()
    assert not AuthToken.objects.filter(user=charlie).exists()
