"""Invitations go to one address (issue 13, finding 4): only a verified address of the account, or the account's
own login address together with the link sent to it, may accept; an address merely added to an account may not."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import Membership, User, Workspace
from accounts.services.invitations import InvitationAddressError, invitation_accept, invitation_create
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

INVITED = "erin@example.com"


@pytest.fixture
def invitation_path(alice: User, workspace: Workspace, django_capture_on_commit_callbacks) -> str:
    """The accept link of an invitation to INVITED, as alice sends it through the members page."""
    client = Client()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/workspaces/{workspace.pk}/members/", {"email": INVITED, "role": "admin"})
    match = re.search(r"/invitations/[\w-]+/", str(mail.outbox[-1].body))
    assert match is not None and mail.outbox[-1].to == [INVITED]
    return match.group(0)


def _add_address(client: Client, email: str, django_capture_on_commit_callbacks) -> str:
    """Add ``email`` to the logged-in account through allauth's email page; returns the confirmation link."""
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/email/", {"email": email, "action_add": ""})
    assert response.status_code == 302
    match = re.search(r"/accounts/confirm-email/[\w:-]+/", str(mail.outbox[-1].body))
    assert match is not None and mail.outbox[-1].to == [email]
    return match.group(0)


def test_unverified_secondary_address_cannot_accept_through_the_page(
    bob, workspace, invitation_path, django_capture_on_commit_callbacks
):
    client = Client()
    client.force_login(bob)
    confirm_path = _add_address(client, INVITED, django_capture_on_commit_callbacks)
    assert EmailAddress.objects.get(user=bob, email=INVITED).verified is False

    page = client.post(invitation_path, follow=True).content.decode()
    assert "not verified on your account yet" in page
    assert Membership.objects.get(user=bob, workspace=workspace).role == "member"  # unchanged, not admin
    # Marking the unverified address primary (to pass as the login address) is refused by allauth.
    client.post("/accounts/email/", {"email": INVITED, "action_primary": ""})
    assert User.objects.get(pk=bob.pk).email == "bob@example.com"

    client.post(confirm_path)  # confirming the address through the link emailed to it
    assert EmailAddress.objects.get(user=bob, email=INVITED).verified is True
    assert "You joined" in client.post(invitation_path, follow=True).content.decode()
    assert Membership.objects.get(user=bob, workspace=workspace).role == "member"  # kept, as documented


def test_unverified_secondary_address_cannot_accept_through_the_service(alice, workspace):
    outsider = UserFactory.create(email="mallory@example.com")
    EmailAddress.objects.create(user=outsider, email=INVITED, verified=False, primary=False)
    membership = Membership.objects.get(user=alice, workspace=workspace)
    _, token = invitation_create(actor=membership, email=INVITED)

    with pytest.raises(InvitationAddressError, match="not verified"):
        invitation_accept(user=outsider, token=token)
    assert not Membership.objects.filter(user=outsider, workspace=workspace).exists()

    EmailAddress.objects.filter(user=outsider, email=INVITED).update(verified=True)
    assert invitation_accept(user=outsider, token=token).workspace == workspace


def test_the_link_proves_the_accounts_own_login_address(settings, workspace, invitation_path):
    """Signing up with the invited address from the invitation (not yet verified, where verification is
    optional) and accepting works: the link was sent to that address only."""
    settings.ACCOUNT_EMAIL_VERIFICATION = "optional"
    erin = UserFactory.create(email=INVITED, verified=False)
    assert not EmailAddress.objects.filter(user=erin, verified=True).exists()
    client = Client()
    client.force_login(erin)
    assert "You joined" in client.post(invitation_path, follow=True).content.decode()
    assert Membership.objects.get(user=erin, workspace=workspace).role == "admin"
