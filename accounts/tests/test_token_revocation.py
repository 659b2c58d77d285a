"""API tokens die with the credentials that made them (issue 13, finding 6): a password change, reset or set, a
change of the login email and deactivation revoke every token of the user; a sign-in or a re-hash does not."""

import re

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core import mail
from django.test import Client
from knox.models import AuthToken

from accounts.models import User
from accounts.services.api_tokens import api_token_create
from accounts.services.users import demo_account_ensure
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "an entirely new secret 42"


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """A cheap stand-in for a stronger default hasher, so a test can make Django re-hash at login."""

    iterations = 1000


def _token(api_client_for, user: User) -> str:
    response = api_client_for(None).post(
        "/api/v1/auth/token/", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["token"]


def _me_status(api_client_for, token: str) -> int:
    client = api_client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/me/").status_code


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _link(pattern: str) -> str:
    match = re.search(pattern, str(mail.outbox[-1].body))
    assert match is not None, mail.outbox[-1].body
    return match.group(0)


def test_password_change_revokes_tokens(alice, api_client_for):
    token = _token(api_client_for, alice)
    other = _token(api_client_for, alice)
    assert _me_status(api_client_for, token) == 200
    data = {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert _logged_in(alice).post("/accounts/password/change/", data).status_code == 302
    assert _me_status(api_client_for, token) == 401
    assert _me_status(api_client_for, other) == 401
    assert not AuthToken.objects.filter(user=alice).exists()


def test_password_reset_revokes_tokens(alice, api_client_for, django_capture_on_commit_callbacks):
    token = _token(api_client_for, alice)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/password/reset/", {"email": alice.email}).status_code == 302
    set_password_page = client.get(_link(r"/accounts/password/reset/key/[\w-]+/"))["Location"]
    response = client.post(set_password_page, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content
    assert _me_status(api_client_for, token) == 401


def test_password_set_revokes_tokens(api_client_for):
    user = UserFactory.create(password=None)  # e.g. made by staff, no password yet
    assert not user.has_usable_password()
    _, token = api_token_create(user=user)
    assert _me_status(api_client_for, token) == 200
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    assert _logged_in(user).post("/accounts/password/set/", data).status_code == 302
    assert _me_status(api_client_for, token) == 401


def test_primary_email_change_revokes_tokens(alice, api_client_for, django_capture_on_commit_callbacks):
    token = _token(api_client_for, alice)
    client = _logged_in(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/email/", {"email": "alice@new.example.com", "action_add": ""})
    client.post(_link(r"/accounts/confirm-email/[\w:-]+/"))
    assert _me_status(api_client_for, token) == 200  # adding and confirming an address changes no credential
    client.post("/accounts/email/", {"email": "alice@new.example.com", "action_primary": ""})
    assert User.objects.get(pk=alice.pk).email == "alice@new.example.com"
    assert _me_status(api_client_for, token) == 401


def test_deactivation_revokes_tokens_for_good(alice, api_client_for):
    token = _token(api_client_for, alice)
    staff = UserFactory.create(is_staff=True, is_superuser=True)
    data = {"action": "deactivate", "_selected_action": [alice.pk]}
    assert _logged_in(staff).post("/admin/accounts/user/", data).status_code == 302
    assert User.objects.get(pk=alice.pk).is_active is False
    assert _me_status(api_client_for, token) == 401
    User.objects.filter(pk=alice.pk).update(is_active=True)  # reactivated: the old token stays dead
    assert _me_status(api_client_for, token) == 401


def test_sign_in_and_rehash_keep_tokens(alice, settings, api_client_for):
    token = _token(api_client_for, alice)
    # A stronger hasher becomes the default: the next sign-in re-hashes the same password.
    settings.PASSWORD_HASHERS = [
        "accounts.tests.test_token_revocation.FastPBKDF2PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]
    old_hash = User.objects.get(pk=alice.pk).password
    client = Client()
    assert client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD}).status_code == 302
    assert User.objects.get(pk=alice.pk).password != old_hash
    assert _me_status(api_client_for, token) == 200
    assert _logged_in(alice).post("/profile/", {"name": "Alice Liddell"}).status_code == 302  # profile edits too
    assert _me_status(api_client_for, token) == 200


def test_rerunning_the_demo_account_command_keeps_its_tokens(api_client_for):
    user = demo_account_ensure(email="demo@example.com", password=PASSWORD)
    token = _token(api_client_for, user)
    demo_account_ensure(email="demo@example.com", password=PASSWORD)  # make run, again
    assert _me_status(api_client_for, token) == 200
    demo_account_ensure(email="demo@example.com", password=NEW_PASSWORD)  # a reset: revoked
    assert _me_status(api_client_for, token) == 401
