"""Quotas of issue 13 finding 7 (accounts part): workspaces per user, invitations per workspace per day."""

import importlib
import logging
import threading
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.db import connection
from django.urls import reverse

from accounts.models import InvitationDayCount, Membership, User, Workspace
from accounts.services.invitations import InvitationLimitError, invitation_create
from accounts.services.memberships import membership_leave
from accounts.services.workspaces import workspace_create
from accounts.tests.factories import UserFactory
from config.errors import ApplicationError

pytestmark = pytest.mark.django_db


def _create_until_refused(client, limit: int) -> list:
    """POST /api/v1/workspaces/ until a refusal (at most limit + 2 tries); the responses."""
    responses = []
    for n in range(limit + 2):
        response = client.post("/api/v1/workspaces/", {"name": f"Project {n}"}, format="json")
        responses.append(response)
        if response.status_code != 201:
            break
    return responses


def test_api_workspace_creation_stops_at_the_limit_personal_included(alice, api_client_for, settings, caplog):
    settings.WORKSPACES_PER_USER_MAX = 3
    client = api_client_for(alice)
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        responses = _create_until_refused(client, 3)
    assert [r.status_code for r in responses] == [201, 201, 429]  # the personal workspace is the first of 3
    refused = responses[-1].json()
    assert refused["code"] == "workspace_limit" and "limit of 3 workspaces" in refused["detail"]
    assert Workspace.objects.filter(created_by=alice).count() == 3
    assert f"workspace creation refused for user {alice.pk}" in caplog.text


def test_handing_a_workspace_over_does_not_free_a_slot(alice, bob, api_client_for, settings):
    settings.WORKSPACES_PER_USER_MAX = 2
    client = api_client_for(alice)
    created = client.post("/api/v1/workspaces/", {"name": "Handed over"}, format="json").json()
    mine = Membership.objects.get(user=alice, workspace_id=created["id"])
    Membership.objects.create(user=bob, workspace_id=created["id"], role=Membership.Role.OWNER)
    membership_leave(membership=mine)
    assert client.post("/api/v1/workspaces/", {"name": "One more"}, format="json").status_code == 429
    # ... while bob, who now owns it but did not create it, still may create his own.
    assert api_client_for(bob).post("/api/v1/workspaces/", {"name": "Bob's"}, format="json").status_code == 201


def test_per_user_override_from_the_admin(alice, api_client_for, client, settings):
    settings.WORKSPACES_PER_USER_MAX = 1
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x"))
    assert 'name="workspaces_max"' in client.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()
    api = api_client_for(alice)
    assert api.post("/api/v1/workspaces/", {"name": "A"}, format="json").status_code == 429
    User.objects.filter(pk=alice.pk).update(workspaces_max=3)  # what the admin field stores
    assert [r.status_code for r in _create_until_refused(api, 3)] == [201, 201, 429]


def test_page_workspace_creation_refused_with_a_message(alice, client_for, settings):
    settings.WORKSPACES_PER_USER_MAX = 2
    client = client_for(alice)
    url = reverse("accounts:workspace_list")
    assert client.post(url, {"name": "Second"}).status_code == 302
    response = client.post(url, {"name": "Third"}, follow=True)
    assert response.status_code == 200
    assert "You have reached your limit of 2 workspaces" in response.content.decode()
    assert not Workspace.objects.filter(name="Third").exists()


def _invite(client, workspace_id: int, email: str):
    url = reverse("accounts:members", kwargs={"workspace_id": workspace_id})
    return client.post(url, {"email": email, "role": "member"}, follow=True)


def test_page_invitations_stop_at_the_daily_limit(
    alice, workspace, client_for, settings, caplog, django_capture_on_commit_callbacks
):
    settings.INVITATIONS_PER_WORKSPACE_PER_DAY = 3
    client = client_for(alice)
    # Re-inviting one address replaces the pending invitation (the row is deleted): it still counts.
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            page = _invite(client, workspace.pk, "x@example.com").content.decode()
        assert "Invitation sent to x@example.com" in page
    with django_capture_on_commit_callbacks(execute=True), caplog.at_level(logging.WARNING, logger="accounts.services"):
        refused = _invite(client, workspace.pk, "y@example.com").content.decode()
    assert "has sent its 3 invitations for today" in refused
    assert len(mail.outbox) == 3 and f"invitation refused for workspace {workspace.pk}" in caplog.text
    # The service's error carries Retry-After: the seconds until midnight UTC.
    with pytest.raises(InvitationLimitError) as refusal:
        invitation_create(actor=Membership.objects.get(user=alice, workspace=workspace), email="z@e.com")
    assert refusal.value.status_code == 429 and 0 < int(refusal.value.headers["Retry-After"]) <= 86400
    # Another workspace has its own count; the next UTC day starts afresh.
    other = workspace_create(owner=alice, name="Other")
    assert "Invitation sent" in _invite(client, other.pk, "y@example.com").content.decode()
    today = InvitationDayCount.objects.get(workspace=workspace)
    assert today.sent == 3
    InvitationDayCount.objects.filter(pk=today.pk).update(day=today.day - timedelta(days=1))
    assert "Invitation sent to y@example.com" in _invite(client, workspace.pk, "y@example.com").content.decode()


def test_withdrawn_invitations_count(alice, workspace, client_for, settings):
    settings.INVITATIONS_PER_WORKSPACE_PER_DAY = 2
    client = client_for(alice)
    for n in range(2):
        _invite(client, workspace.pk, f"w{n}@example.com")
        invitation = workspace.invitations.get(email=f"w{n}@example.com")
        revoke = reverse(
            "accounts:invitation_revoke", kwargs={"workspace_id": workspace.pk, "invitation_id": invitation.pk}
        )
        client.post(revoke)
    assert not workspace.invitations.exists()
    assert "has sent its 2 invitations for today" in _invite(client, workspace.pk, "w9@example.com").content.decode()


def _race(n: int, action) -> list[str]:
    """Run ``action(i)`` in ``n`` threads released together (each with its own connection); the outcomes."""
    start, outcomes = threading.Barrier(n), []

    def run(i: int) -> None:
        start.wait()
        try:
            action(i)
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_cannot_pass_the_workspace_limit(settings):
    settings.WORKSPACES_PER_USER_MAX = 3
    owner = UserFactory.create()
    outcomes = _race(8, lambda i: workspace_create(owner=owner, name=f"Race {i}"))
    assert outcomes == ["ok"] * 2 + ["workspace_limit"] * 6  # the personal workspace is the third
    assert Workspace.objects.filter(created_by=owner).count() == 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_invitations_cannot_pass_the_daily_limit(settings):
    settings.INVITATIONS_PER_WORKSPACE_PER_DAY = 3
    owner = UserFactory.create()
    actor = Membership.objects.get(user=owner, workspace__personal_for=owner)
    outcomes = _race(8, lambda i: invitation_create(actor=actor, email=f"race{i}@example.com"))
    assert outcomes == ["invitation_limit"] * 5 + ["ok"] * 3
    assert InvitationDayCount.objects.get(workspace=actor.workspace).sent == 3


def test_migration_backfills_the_creator(alice, bob, workspace):
    """Workspaces made before ``created_by``: the personal one's user, else the earliest owner, created them."""
    backfill = importlib.import_module("accounts.migrations.0005_quotas")._backfill_created_by
    Workspace.objects.update(created_by=None)
    backfill(django_apps, None)
    assert Workspace.objects.get(pk=workspace.pk).created_by == alice  # alice owns Acme; bob is a member
    assert Workspace.objects.get(personal_for=bob).created_by == bob
