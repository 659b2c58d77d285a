from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.cache import SessionStore
from django.core import mail
from django.http import Http404
from django.utils import timezone

from accounts.models import Invitation, Membership, Workspace
from accounts.permissions import membership_get, workspace_get_for_request
from accounts.selectors import (
    SESSION_WORKSPACE_KEY,
    workspace_current_or_404,
    workspace_get_personal,
    workspace_list_for_user,
)
from accounts.services.api_tokens import api_token_create
from accounts.services.invitations import invitation_accept, invitation_create
from accounts.services.memberships import LastOwnerError, membership_change_role, membership_leave, membership_remove
from accounts.services.users import demo_account_ensure
from accounts.services.workspaces import workspace_create_personal
from accounts.tests.factories import MembershipFactory, UserFactory
from config.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError

pytestmark = pytest.mark.django_db

Role = Membership.Role


def _membership(user, workspace) -> Membership:
    return membership_get(user=user, workspace_id=workspace.pk)


def test_every_new_user_gets_a_personal_workspace_as_owner():
    user = UserFactory.create(email="dana@example.com", name="")
    personal = Workspace.objects.get(personal_for=user)
    assert personal.name == "dana's workspace"
    assert Membership.objects.get(user=user, workspace=personal).role == Role.OWNER
    assert workspace_create_personal(user=user) == personal  # idempotent


def test_workspace_list_carries_role_and_member_count(alice, bob, workspace):
    rows = {ws.name: ws for ws in workspace_list_for_user(user=bob)}
    assert rows["Acme"].role == "member"
    assert rows["Acme"].member_count == 2
    assert rows["Bob's workspace"].role == "owner"
    assert next(iter(rows)) == "Bob's workspace"  # personal first


def test_outsider_lookup_is_404_not_403(charlie, workspace):
    with pytest.raises(Http404):
        membership_get(user=charlie, workspace_id=workspace.pk)
    with pytest.raises(Http404):
        workspace_get_for_request(user=charlie, workspace_id=workspace.pk)
    with pytest.raises(Http404):
        membership_get(user=charlie, workspace_id="not-a-number")
    assert workspace_get_for_request(user=charlie, workspace_id=None).personal_for == charlie


def test_invitation_is_emailed_and_accepted_once(alice, workspace, django_capture_on_commit_callbacks):
    invitee = UserFactory.create(email="erin@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invitation_create(actor=_membership(alice, workspace), email="Erin@Example.com")
    assert invitation.email == "erin@example.com"
    assert token not in invitation.token_hash  # only the hash is stored
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["erin@example.com"]
    assert f"/invitations/{token}/" in mail.outbox[0].body

    membership = invitation_accept(user=invitee, token=token)
    assert membership.workspace == workspace and membership.role == Role.MEMBER
    with pytest.raises(NotFoundError):
        invitation_accept(user=invitee, token=token)


def test_invitation_for_another_address_is_refused(alice, charlie, workspace):
    _, token = invitation_create(actor=_membership(alice, workspace), email="erin@example.com")
    with pytest.raises(ApplicationError, match=r"sent to erin@example\.com"):
        invitation_accept(user=charlie, token=token)
    assert not Membership.objects.filter(user=charlie, workspace=workspace).exists()


def test_expired_invitation_does_not_work(alice, workspace):
    invitee = UserFactory.create(email="erin@example.com")
    invitation, token = invitation_create(actor=_membership(alice, workspace), email=invitee.email)
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(NotFoundError):
        invitation_accept(user=invitee, token=token)


def test_members_cannot_invite_and_members_are_not_reinvited(alice, bob, workspace):
    with pytest.raises(ForbiddenError):
        invitation_create(actor=_membership(bob, workspace), email="x@example.com")
    with pytest.raises(ConflictError):
        invitation_create(actor=_membership(alice, workspace), email="BOB@example.com")


def test_admin_cannot_touch_owners_or_make_owners(alice, bob, workspace):
    bob_m = _membership(bob, workspace)
    membership_change_role(actor=_membership(alice, workspace), membership=bob_m, role=Role.ADMIN)
    erin_m = MembershipFactory.create(workspace=workspace, role=Role.MEMBER)
    bob_m.refresh_from_db()
    with pytest.raises(ForbiddenError):
        membership_change_role(actor=bob_m, membership=erin_m, role=Role.OWNER)
    with pytest.raises(ForbiddenError):
        membership_remove(actor=bob_m, membership=_membership(alice, workspace))
    membership_change_role(actor=bob_m, membership=erin_m, role=Role.ADMIN)
    membership_remove(actor=bob_m, membership=erin_m)
    assert not Membership.objects.filter(pk=erin_m.pk).exists()


def test_last_owner_cannot_leave_or_step_down(alice, bob, workspace):
    alice_m = _membership(alice, workspace)
    with pytest.raises(LastOwnerError):
        membership_leave(membership=alice_m)
    with pytest.raises(LastOwnerError):
        membership_change_role(actor=alice_m, membership=alice_m, role=Role.MEMBER)
    membership_change_role(actor=alice_m, membership=_membership(bob, workspace), role=Role.OWNER)
    membership_leave(membership=alice_m)
    assert not Membership.objects.filter(user=alice, workspace=workspace).exists()


def test_member_can_leave(bob, workspace):
    membership_leave(membership=_membership(bob, workspace))
    assert not Membership.objects.filter(user=bob, workspace=workspace).exists()


def test_api_token_limit(alice, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    api_token_create(user=alice)
    api_token_create(user=alice)
    with pytest.raises(ConflictError):
        api_token_create(user=alice)


def test_workspace_current_or_404(rf, alice, charlie, workspace):
    request = rf.get("/")
    request.session = SessionStore()
    request.user = alice
    assert workspace_current_or_404(request=request).personal_for == alice
    request.session[SESSION_WORKSPACE_KEY] = workspace.pk
    assert workspace_current_or_404(request=request) == workspace
    request.user = charlie  # a stale or foreign session value falls back to the personal workspace
    assert workspace_current_or_404(request=request).personal_for == charlie
    request.user = AnonymousUser()
    with pytest.raises(Http404):
        workspace_current_or_404(request=request)


def test_reading_the_personal_workspace_never_creates_one(alice, bob, workspace):
    """A user can lack one (deleted by staff): reads say so, and only a service (sign-in, the demo command)
    makes a new one."""
    Workspace.objects.filter(personal_for=bob).delete()
    counts = Workspace.objects.count(), Membership.objects.count()
    with pytest.raises(Workspace.DoesNotExist):
        workspace_get_personal(user=bob)
    with pytest.raises(Http404):
        workspace_get_for_request(user=bob, workspace_id=None)
    assert workspace_get_for_request(user=bob, workspace_id=workspace.pk) == workspace
    assert (Workspace.objects.count(), Membership.objects.count()) == counts
    assert workspace_create_personal(user=bob).personal_for == bob


def test_demo_account_gets_back_its_personal_workspace():
    user = demo_account_ensure(email="demo@example.com", password="pw")
    Workspace.objects.filter(personal_for=user).delete()
    assert demo_account_ensure(email="demo@example.com", password="pw") == user
    assert workspace_get_personal(user=user).name == "demo's workspace"
