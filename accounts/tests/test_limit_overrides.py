"""Per-workspace and per-user limit overrides that staff set in the admin (issue 13): a workspace's
``invitations_per_day`` (in place of ``INVITATIONS_PER_WORKSPACE_PER_DAY``) and a user's ``uploads_per_hour``
(in place of ``UPLOADS_PER_USER_PER_HOUR``; the upload side is tested in documents/tests/test_upload_rate_override.py).
From the outside: the admin's change forms, then the Members page."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.models import InvitationDayCount, User, Workspace

pytestmark = pytest.mark.django_db


class _FormValues(HTMLParser):
    """The values a browser would submit for the admin's change form (its ``<form id="..._form">``)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or "disabled" in a:
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.values.append((name, a.get("value", "on" if a.get("type") == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values.append((self._select, a.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea = name
            self.values.append((name, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, value = self.values[-1]
            self.values[-1] = (name, value + data)


def _admin_save(client, url: str, **changes: str):
    """GET an admin change form, change some fields and POST it back as a browser would; the response."""
    page = client.get(url)
    assert page.status_code == 200
    parser = _FormValues()
    parser.feed(page.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.values:
        data.setdefault(name, []).append(value)
    data.update({name: [value] for name, value in changes.items()})
    data["_save"] = ["Save"]
    return client.post(url, data)


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="root@example.com", password="x"))
    return client


def _invite(client, workspace_id: int, email: str) -> str:
    url = reverse("accounts:members", kwargs={"workspace_id": workspace_id})
    return client.post(url, {"email": email, "role": "member"}, follow=True).content.decode()


def test_staff_set_a_workspaces_invitations_per_day_and_the_members_page_follows_it(
    alice, workspace, staff_client, client_for, settings, django_capture_on_commit_callbacks
):
    settings.INVITATIONS_PER_WORKSPACE_PER_DAY = 2
    url = f"/admin/accounts/workspace/{workspace.pk}/change/"
    assert 'name="invitations_per_day"' in staff_client.get(url).content.decode()

    saved = _admin_save(staff_client, url, invitations_per_day="4")

    assert saved.status_code == 302, saved.content.decode()
    assert Workspace.objects.get(pk=workspace.pk).invitations_per_day == 4
    client = client_for(alice)
    for n in range(4):  # twice the setting's 2
        with django_capture_on_commit_callbacks(execute=True):
            assert f"Invitation sent to i{n}@example.com" in _invite(client, workspace.pk, f"i{n}@example.com")
    refused = _invite(client, workspace.pk, "i4@example.com")
    assert "has sent its 4 invitations for today" in refused
    assert len(mail.outbox) == 4 and InvitationDayCount.objects.get(workspace=workspace).sent == 4
    # Another workspace keeps the setting's 2.
    personal = Workspace.objects.get(personal_for=alice)
    assert "Invitation sent" in _invite(client, personal.pk, "p0@example.com")
    assert "Invitation sent" in _invite(client, personal.pk, "p1@example.com")
    assert "has sent its 2 invitations for today" in _invite(client, personal.pk, "p2@example.com")


def test_emptying_the_override_brings_back_the_setting(alice, workspace, staff_client, client_for, settings):
    settings.INVITATIONS_PER_WORKSPACE_PER_DAY = 1
    Workspace.objects.filter(pk=workspace.pk).update(invitations_per_day=5)
    url = f"/admin/accounts/workspace/{workspace.pk}/change/"

    assert _admin_save(staff_client, url, invitations_per_day="").status_code == 302

    assert Workspace.objects.get(pk=workspace.pk).invitations_per_day is None
    client = client_for(alice)
    assert "Invitation sent" in _invite(client, workspace.pk, "a@example.com")
    assert "has sent its 1 invitations for today" in _invite(client, workspace.pk, "b@example.com")


def test_staff_set_a_users_uploads_per_hour(alice, staff_client):
    url = f"/admin/accounts/user/{alice.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert 'name="uploads_per_hour"' in page and 'name="workspaces_max"' in page

    saved = _admin_save(staff_client, url, uploads_per_hour="20000")

    assert saved.status_code == 302, saved.content.decode()
    alice.refresh_from_db()
    assert alice.uploads_per_hour == 20000 and alice.email == "alice@example.com" and alice.is_active


@pytest.mark.parametrize(
    "url, field, message",
    [
        ("/admin/accounts/user/{alice}/change/", "uploads_per_hour", "Uploads per hour: leave it empty"),
        ("/admin/accounts/workspace/{workspace}/change/", "invitations_per_day", "Invitations per day: leave it empty"),
    ],
)
def test_admin_refuses_a_zero_override(alice, workspace, staff_client, url, field, message):
    url = url.format(alice=alice.pk, workspace=workspace.pk)

    refused = _admin_save(staff_client, url, **{field: "0"})

    assert refused.status_code == 200 and message in refused.content.decode()
    assert getattr(User.objects.get(pk=alice.pk), field, None) is None
    assert getattr(Workspace.objects.get(pk=workspace.pk), field, None) is None


def test_database_refuses_zero_overrides(alice, workspace):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=alice.pk).update(uploads_per_hour=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.filter(pk=workspace.pk).update(invitations_per_day=0)
