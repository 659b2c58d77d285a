import re

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Membership, User, Workspace
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _find(pattern: str, text: object) -> re.Match[str]:
    """The first match of ``pattern`` in ``text`` (an email body, a page), which must be there."""
    match = re.search(pattern, str(text))
    assert match is not None, text
    return match


def test_anonymous_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_home_shows_current_workspace_and_switcher(client, bob, workspace):
    client.force_login(bob)
    response = client.get("/", follow=True)
    page = response.content.decode()
    assert "Bob&#x27;s workspace" in page and "Acme" in page  # both in the switcher
    response = client.post(
        reverse("accounts:workspace_switch"), {"workspace_id": workspace.pk, "next": "/documents/"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/documents/"
    assert "Documents in Acme" in response.content.decode()


def test_switch_refuses_offsite_next(client, bob, workspace):
    client.force_login(bob)
    response = client.post(
        reverse("accounts:workspace_switch"), {"workspace_id": workspace.pk, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_signup_creates_personal_workspace_and_sends_verification(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    response = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert Workspace.objects.filter(personal_for=user).exists()
    assert len(mail.outbox) == 1 and "confirm" in mail.outbox[0].body.lower()
    # Mandatory verification: logging in before confirming only leads to the "verify" page.
    client.logout()
    response = client.post("/accounts/login/", {"login": "new@example.com", "password": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"


def test_password_reset_link_works_once(client, alice):
    client.post("/accounts/password/reset/", {"email": alice.email})
    assert len(mail.outbox) == 1
    link = _find(r"http://\S+/accounts/password/reset/key/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]
    response = client.get(path)
    assert response.status_code == 302  # allauth moves the key into the session
    form_url = response["Location"]
    response = client.post(form_url, {"password1": "a brand new secret 42", "password2": "a brand new secret 42"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("a brand new secret 42")
    # The same link again: refused.
    client.logout()
    response = client.get(path, follow=True)
    assert "bad token" in response.content.decode().lower() or "invalid" in response.content.decode().lower()
    assert 'name="password1"' not in response.content.decode()


def test_invitation_through_pages(client, alice, workspace, django_capture_on_commit_callbacks):
    client.force_login(alice)
    url = reverse("accounts:members", kwargs={"workspace_id": workspace.pk})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "erin@example.com", "role": "admin"}, follow=True)
    assert "Invitation sent to erin@example.com" in response.content.decode()
    accept_path = _find(r"/invitations/[\w-]+/", mail.outbox[0].body).group(0)

    erin = UserFactory.create(email="erin@example.com")
    client.force_login(erin)
    assert "Join Acme" in client.get(accept_path).content.decode()
    response = client.post(accept_path, follow=True)
    assert Membership.objects.get(user=erin, workspace=workspace).role == "admin"
    assert "You joined" in response.content.decode()
    assert client.get(accept_path).status_code == 404  # used


def test_members_page_roles(client, alice, bob, workspace):
    client.force_login(bob)
    page = client.get(reverse("accounts:members", kwargs={"workspace_id": workspace.pk})).content.decode()
    assert "alice@example.com" in page and "Send invitation" not in page  # members don't manage
    bob_m = Membership.objects.get(user=bob, workspace=workspace)
    alice_m = Membership.objects.get(user=alice, workspace=workspace)
    response = client.post(
        reverse("accounts:member_remove", kwargs={"workspace_id": workspace.pk, "membership_id": alice_m.pk}),
        follow=True,
    )
    assert "Only workspace owners and admins" in response.content.decode()
    client.force_login(alice)
    client.post(
        reverse("accounts:member_role", kwargs={"workspace_id": workspace.pk, "membership_id": bob_m.pk}),
        {"role": "admin"},
    )
    bob_m.refresh_from_db()
    assert bob_m.role == "admin"
    response = client.post(reverse("accounts:workspace_leave", kwargs={"workspace_id": workspace.pk}), follow=True)
    assert "The last owner cannot leave" in response.content.decode()


def test_account_page_creates_shows_once_and_revokes_tokens(client, alice):
    client.force_login(alice)
    client.post(reverse("accounts:token_create"))
    page = client.get(reverse("accounts:account")).content.decode()
    secret = _find(r'id="new-token">[^<]*<code>([^<]+)</code>', page).group(1)
    assert client.get(reverse("accounts:account")).content.decode().count(secret) == 0  # shown once
    from knox.models import AuthToken

    token = AuthToken.objects.get(user=alice)
    assert secret.startswith(token.token_key)
    client.post(reverse("accounts:token_revoke", kwargs={"token_key": token.token_key}))
    assert not AuthToken.objects.filter(user=alice).exists()


def test_it_checks_access(client, alice, charlie, workspace):
    """charlie (outsider) gets 404 on every page of alice's workspace, and never sees it listed."""
    client.force_login(charlie)
    ws = workspace.pk
    alice_m = Membership.objects.get(user=alice, workspace=workspace)
    gets = [
        reverse("accounts:workspace_detail", kwargs={"workspace_id": ws}),
        reverse("accounts:members", kwargs={"workspace_id": ws}),
    ]
    posts = [
        reverse("accounts:workspace_rename", kwargs={"workspace_id": ws}),
        reverse("accounts:workspace_leave", kwargs={"workspace_id": ws}),
        reverse("accounts:member_role", kwargs={"workspace_id": ws, "membership_id": alice_m.pk}),
        reverse("accounts:member_remove", kwargs={"workspace_id": ws, "membership_id": alice_m.pk}),
        reverse("accounts:invitation_revoke", kwargs={"workspace_id": ws, "invitation_id": 1}),
    ]
    for url in gets:
        assert client.get(url).status_code == 404, url
    for url in posts:
        assert client.post(url, {"role": "member", "name": "pwned"}).status_code == 404, url
    assert client.post(reverse("accounts:workspace_switch"), {"workspace_id": ws}).status_code == 404
    workspace.refresh_from_db()
    assert workspace.name == "Acme"
    listing = client.get(reverse("accounts:workspace_list")).content.decode()
    assert "Acme" not in listing
    assert "Acme" not in client.get("/", follow=True).content.decode()
    # A membership id of alice's workspace, addressed through charlie's own workspace, is not found either.
    own = charlie.personal_workspace.pk
    url = reverse("accounts:member_remove", kwargs={"workspace_id": own, "membership_id": alice_m.pk})
    assert client.post(url).status_code == 404


def test_page_views_only_read_workspaces(client, alice, workspace):
    """The context processor runs on every page: it, and the pages, write no workspace rows. A user whose
    personal workspace was deleted (by staff) works in another of theirs and gets a new one at sign-in."""
    client.force_login(alice)
    Workspace.objects.filter(personal_for=alice).delete()
    counts = Workspace.objects.count(), Membership.objects.count()
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/", follow=True)
        assert client.get(reverse("accounts:workspace_list")).status_code == 200
        assert client.get(reverse("accounts:account")).status_code == 200
    assert page.status_code == 200 and page.redirect_chain[-1][0].endswith(f"/workspaces/{workspace.pk}/")
    writes = [
        q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE")) and "accounts_" in q["sql"]
    ]
    assert writes == []
    assert (Workspace.objects.count(), Membership.objects.count()) == counts
    client.logout()
    client.force_login(alice)
    assert Workspace.objects.filter(personal_for=alice).exists()
