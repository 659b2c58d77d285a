from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _token_for(api_client_for, user: User) -> str:
    """A real personal API token of ``user``, through the token endpoint."""
    response = api_client_for(None).post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["token"]


def _bearer(api_client_for, token: str) -> APIClient:
    """A client that authenticates as the API does in production (``Authorization: Bearer``), unlike
    ``api_client_for``'s forced authentication: these tests are about the token itself."""
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_token_login_and_me(alice, workspace, api_client_for):
    token = _token_for(api_client_for, alice)
    assert AuthToken.objects.filter(user=alice).count() == 1
    assert token not in AuthToken.objects.get(user=alice).digest  # only a hash is stored
    body = _bearer(api_client_for, token).get("/api/v1/me/").json()
    assert body["email"] == "alice@example.com"
    roles = {w["name"]: (w["role"], w["is_personal"]) for w in body["workspaces"]}
    assert roles == {"Acme": ("owner", False), "Alice's workspace": ("owner", True)}


def test_wrong_password_uses_the_error_shape(alice, api_client_for):
    response = api_client_for(None).post(
        "/api/v1/auth/token/", {"email": alice.email, "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Wrong email or password.", "code": "invalid"}


def test_validation_errors_list_fields(api_client_for):
    response = api_client_for(None).post("/api/v1/auth/token/", {"email": "not-an-email"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert set(body["fields"]) == {"email", "password"}
    assert body["detail"]


def test_unverified_email_gets_no_token_when_verification_is_mandatory(settings, api_client_for):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    user = UserFactory.create(verified=False)
    response = api_client_for(None).post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_revoked_token_is_401_with_error_shape(alice, api_client_for):
    token = _token_for(api_client_for, alice)
    client = _bearer(api_client_for, token)
    assert client.delete("/api/v1/auth/token/").status_code == 204
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}
    assert response["WWW-Authenticate"] == "Bearer"


def test_expired_token_is_401_with_error_shape(alice, api_client_for):
    token = _token_for(api_client_for, alice)
    AuthToken.objects.filter(user=alice).update(expiry=timezone.now() - timedelta(seconds=1))
    response = _bearer(api_client_for, token).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_anonymous_is_401(db, api_client_for):
    response = api_client_for(None).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def test_token_creation_is_throttled(alice, monkeypatch, api_client_for):
    from rest_framework.throttling import ScopedRateThrottle

    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"token_create": "2/min"})  # read at import
    client = api_client_for(None)
    codes = [
        client.post("/api/v1/auth/token/", {"email": alice.email, "password": "x"}, format="json").status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]


def test_workspace_create_and_detail(alice, bob, workspace, api_client_for):
    response = api_client_for(alice).post("/api/v1/workspaces/", {"name": "Research"}, format="json")
    assert response.status_code == 201
    assert response.json()["role"] == "owner"
    detail = api_client_for(bob).get(f"/api/v1/workspaces/{workspace.pk}/").json()
    assert {m["email"]: m["role"] for m in detail["members"]} == {
        "alice@example.com": "owner",
        "bob@example.com": "member",
    }


def test_it_checks_access(alice, charlie, workspace, api_client_for):
    client = api_client_for(charlie)
    response = client.get(f"/api/v1/workspaces/{workspace.pk}/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert client.get("/api/v1/workspaces/999999/").json() == response.json()  # same answer as a missing one
    names = [w["name"] for w in client.get("/api/v1/me/").json()["workspaces"]]
    assert names == ["Charlie's workspace"]
    assert [w["name"] for w in client.get("/api/v1/workspaces/").json()] == names


def test_openapi_schema_and_offline_docs(db, client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/me/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "https://" not in html  # served from our static files
