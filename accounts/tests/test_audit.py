"""The audit trail (issue 14, item 4): append-only in the database and the admin, recorded through the real pages
and API, visible to a workspace's owners and admins only for their own workspace, purged after retention."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import ProgrammingError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, User, Workspace
from accounts.services.audit import audit_record
from accounts.tasks import audit_purge_task
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db
Event = AuditEvent.Event


def _audit_url(workspace: Workspace, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return reverse("accounts:audit", kwargs={"workspace_id": workspace.pk}) + (f"?{query}" if query else "")


def _export(client, workspace: Workspace, **params: str) -> list[dict[str, str]]:
    url = reverse("accounts:audit_export", kwargs={"workspace_id": workspace.pk})
    response = client.get(url, params)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_table_refuses_update_and_delete_through_the_orm(alice):
    row = audit_record(event=Event.LOGIN, actor=alice)
    for attempt in (
        lambda: AuditEvent.objects.filter(pk=row.pk).update(event=Event.LOGOUT),
        lambda: AuditEvent.objects.filter(pk=row.pk).delete(),
        row.delete,
        lambda: AuditEvent.objects.filter(pk=row.pk).update(actor_email="someone@else"),
    ):
        with (
            pytest.raises(ProgrammingError, match="Cannot update or delete rows from accounts_auditevent"),
            transaction.atomic(),
        ):
            attempt()
    row.event = Event.LOGOUT
    with pytest.raises(ProgrammingError), transaction.atomic():
        row.save()
    assert AuditEvent.objects.get(pk=row.pk).event == Event.LOGIN


def test_the_admin_lists_for_staff_but_cannot_add_change_or_delete(client, alice, workspace):
    staff = User.objects.create_superuser(email="root@example.com", password="x")
    row = audit_record(event=Event.INVITATION_SENT, actor=alice, workspace_id=workspace.pk, target_label="x@y.z")
    client.force_login(staff)
    listing = client.get("/admin/accounts/auditevent/?event__exact=invitation.sent")
    assert listing.status_code == 200 and "x@y.z" in listing.content.decode()
    assert "delete_selected" not in listing.content.decode()
    change_url = f"/admin/accounts/auditevent/{row.pk}/change/"
    view = client.get(change_url).content.decode()
    assert "x@y.z" in view and 'name="_save"' not in view  # view-only
    assert client.post(change_url, {"event": Event.LOGOUT, "target_label": "edited"}).status_code == 403
    assert client.post(f"/admin/accounts/auditevent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    client.post("/admin/accounts/auditevent/", bulk)
    assert AuditEvent.objects.get(pk=row.pk).target_label == "x@y.z"


def test_an_owner_sees_their_workspace_events_and_no_others(client_for, alice, bob, charlie, workspace):
    """alice (owner of Acme) and charlie (owner of his own workspace) each invite someone through the Members
    page; each Audit page and CSV shows only its own workspace's invitation; bob (member) gets 403, charlie 404."""
    other = Workspace.objects.create(name="Charlie's team", created_by=charlie)
    Membership.objects.create(user=charlie, workspace=other, role=Membership.Role.OWNER)
    alice_client, charlie_client = client_for(alice), client_for(charlie)
    alice_client.post(
        reverse("accounts:members", kwargs={"workspace_id": workspace.pk}), {"email": "erin@ex.com", "role": "member"}
    )
    charlie_client.post(
        reverse("accounts:members", kwargs={"workspace_id": other.pk}), {"email": "zed@ex.com", "role": "member"}
    )

    page = alice_client.get(_audit_url(workspace)).content.decode()
    assert "erin@ex.com" in page and "zed@ex.com" not in page
    assert [r["target"] for r in _export(alice_client, workspace)] == ["erin@ex.com as member"]
    other_page = charlie_client.get(_audit_url(other)).content.decode()
    assert "zed@ex.com" in other_page and "erin@ex.com" not in other_page

    assert client_for(bob).get(_audit_url(workspace)).status_code == 403
    assert client_for(bob).get(reverse("accounts:audit_export", args=[workspace.pk])).status_code == 403
    assert charlie_client.get(_audit_url(workspace)).status_code == 404
    assert charlie_client.get(reverse("accounts:audit_export", args=[workspace.pk])).status_code == 404
    assert client_for(None).get(_audit_url(workspace)).status_code == 302  # to the login page


def test_filters_pagination_and_csv_use_the_same_filters(client_for, alice, bob, workspace):
    for i in range(55):
        audit_record(event=Event.DOCUMENT_DOWNLOADED, actor=bob, workspace_id=workspace.pk, target_label=f"doc {i}")
    audit_record(event=Event.ROLE_CHANGED, actor=alice, workspace_id=workspace.pk, target_label="=HYPERLINK(1)")
    client = client_for(alice)
    first = client.get(_audit_url(workspace)).content.decode()
    assert "Page 1 of 2" in first and "=HYPERLINK(1)" in first
    second = client.get(_audit_url(workspace, page="2")).content.decode()
    assert "doc 0<" in second and "doc 54<" not in second
    only_roles = client.get(_audit_url(workspace, event=Event.ROLE_CHANGED)).content.decode()
    assert "Page 1 of 1" in only_roles and "doc 1<" not in only_roles
    assert [r["target"] for r in _export(client, workspace, event=Event.ROLE_CHANGED)] == ["'=HYPERLINK(1)"]
    assert len(_export(client, workspace, actor="BOB@")) == 55
    today = timezone.now().date().isoformat()
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert len(_export(client, workspace, since=today, until=today)) == 56
    assert _export(client, workspace, since=tomorrow) == []


def test_the_date_filters_are_a_time_range_the_workspace_index_bounds(alice, workspace):
    """``since``/``until`` (inclusive days) are a ``created_at`` range, not a per-row date cast: the
    ``(workspace_id, -created_at)`` index's condition holds both the workspace and the times."""
    from datetime import UTC, date, datetime

    from django.db import connection

    from accounts.selectors import audit_event_list

    for moment in ("2026-01-31T23:59:59", "2026-02-01T00:00:00", "2026-02-28T23:59:59.999999", "2026-03-01T00:00:00"):
        created_at = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        AuditEvent.objects.create(event=Event.LOGIN, workspace_id=workspace.pk, created_at=created_at)
    events = audit_event_list(workspace_id=workspace.pk, since=date(2026, 2, 1), until=date(2026, 2, 28))
    assert [e.created_at.isoformat() for e in events] == [
        "2026-02-28T23:59:59.999999+00:00",
        "2026-02-01T00:00:00+00:00",
    ]
    sql, params = events.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a few rows: make the planner show the index it can use
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert "audit_workspace_time" in plan and any("created_at >=" in line for line in conditions), plan


def test_the_purge_removes_only_expired_rows(alice, settings):
    settings.AUDIT_RETENTION_DAYS = 365
    now = timezone.now()
    old = AuditEvent.objects.create(event=Event.LOGIN, actor_id=alice.pk, created_at=now - timedelta(days=366))
    edge = AuditEvent.objects.create(event=Event.LOGIN, actor_id=alice.pk, created_at=now - timedelta(days=364))
    new = audit_record(event=Event.LOGOUT, actor=alice)
    assert audit_purge_task() == 1
    assert set(AuditEvent.objects.values_list("pk", flat=True)) >= {edge.pk, new.pk}
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert audit_purge_task() == 0
    settings.AUDIT_RETENTION_DAYS = 1
    assert audit_purge_task() == 1 and AuditEvent.objects.filter(pk=new.pk).exists()


def test_the_purge_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"accounts.tasks.audit_purge_task", "chat.tasks.chat_telemetry_purge_task"} <= tasks


def _events(**filters: object) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def test_sign_in_and_out_are_recorded_with_the_request(client, alice):
    """Each row carries its request's id, the one of the ``X-Request-ID`` response header and the log lines; a
    client's own ``X-Request-ID`` (no trusted proxy: ``TRUSTED_PROXY_COUNT = 0``) is not taken."""
    headers = {"HTTP_USER_AGENT": "AuditTest/1.0", "HTTP_X_REQUEST_ID": "forged-123"}
    responses = [
        client.post("/accounts/login/", {"login": alice.email, "password": "wrong one"}, **headers),
        client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD}, **headers),
        client.post("/accounts/logout/", **headers),
    ]
    failed, login, logout = (_events(event=e)[-1] for e in (Event.LOGIN_FAILED, Event.LOGIN, Event.LOGOUT))
    assert failed.actor_id is None and failed.actor_email == alice.email
    assert login.actor_id == logout.actor_id == alice.pk
    for row, response in zip((failed, login, logout), responses, strict=True):
        assert (row.ip, row.user_agent, row.request_id) == ("127.0.0.1", "AuditTest/1.0", response["X-Request-ID"])
    assert len({failed.request_id, login.request_id, logout.request_id}) == 3
    assert "forged-123" not in str(AuditEvent.objects.values_list())
    assert "wrong one" not in str(AuditEvent.objects.values_list())


def test_a_trusted_proxys_request_id_and_client_address_are_recorded(client, alice, settings):
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    response = client.post(
        "/accounts/login/",
        {"login": alice.email, "password": PASSWORD},
        HTTP_X_REQUEST_ID="edge-42",
        HTTP_X_FORWARDED_FOR="203.0.113.5",
    )
    (login,) = _events(event=Event.LOGIN)
    assert response["X-Request-ID"] == login.request_id == "edge-42" and login.ip == "203.0.113.5"


def test_the_client_address_is_resolved_once_for_the_login_limits_the_logs_and_the_trail(client, alice, settings):
    """``config.request_log.client_ip`` serves the login limits (allauth's adapter), the log lines and the audit
    rows alike. With two trusted proxies, the address the outer one saw; with a single forwarded hop (the request
    skipped the outer proxy), the peer's address, where allauth's own resolution failed the log-in."""
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    credentials = {"login": alice.email, "password": PASSWORD}
    chain = "192.0.2.66, 203.0.113.5, 10.0.0.2"  # a client-written entry, then what the two proxies appended
    assert client.post("/accounts/login/", credentials, HTTP_X_FORWARDED_FOR=chain).status_code == 302
    client.post("/accounts/logout/")
    short = client.post("/accounts/login/", credentials, HTTP_X_FORWARDED_FOR="198.51.100.7", REMOTE_ADDR="10.0.0.9")
    assert short.status_code == 302
    assert [e.ip for e in _events(event=Event.LOGIN)] == ["203.0.113.5", "10.0.0.9"]


def test_signup_password_and_email_changes_are_recorded(client, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "none"
    client.post("/accounts/signup/", {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD})
    user = User.objects.get(email="new@example.com")
    assert [e.event for e in _events(actor_id=user.pk)][:3] == [Event.WORKSPACE_CREATED, Event.SIGNUP, Event.LOGIN]
    client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "another secret 4242", "password2": "another secret 4242"},
    )
    assert _events(actor_id=user.pk, event=Event.PASSWORD_CHANGED)
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=user, email="other@example.com", verified=True, primary=False)
    client.post("/accounts/email/", {"email": "other@example.com", "action_primary": ""})
    (changed,) = _events(actor_id=user.pk, event=Event.EMAIL_CHANGED)
    assert changed.target_label == "new@example.com → other@example.com"


def test_tokens_members_and_documents_through_pages_and_api(client_for, api_client_for, alice, bob, workspace):
    page = client_for(alice)
    page.post(reverse("accounts:token_create"))
    from knox.models import AuthToken

    token = AuthToken.objects.get(user=alice)
    page.post(reverse("accounts:token_revoke", kwargs={"token_key": token.token_key}))
    bob_m = Membership.objects.get(user=bob, workspace=workspace)
    page.post(reverse("accounts:member_role", args=[workspace.pk, bob_m.pk]), {"role": "admin"})
    api = api_client_for(alice)
    upload = {"file": SimpleUploadedFile("notes.txt", b"Quarterly notes."), "workspace": workspace.pk}
    document_id = api.post("/api/v1/documents/", upload, format="multipart").json()["id"]
    assert api.get(f"/api/v1/documents/{document_id}/file/").status_code == 200
    assert api.delete(f"/api/v1/documents/{document_id}/").status_code == 204
    page.post(reverse("accounts:member_remove", args=[workspace.pk, bob_m.pk]))

    ws_events = [(e.event, e.actor_id) for e in _events(workspace_id=workspace.pk)]
    assert ws_events == [
        (Event.ROLE_CHANGED, alice.pk),
        (Event.DOCUMENT_UPLOADED, alice.pk),
        (Event.DOCUMENT_DOWNLOADED, alice.pk),
        (Event.DOCUMENT_DELETED, alice.pk),
        (Event.MEMBER_REMOVED, alice.pk),
    ]
    assert [e.event for e in _events(actor_id=alice.pk, workspace_id=None)][-2:] == [
        Event.TOKEN_CREATED,
        Event.TOKEN_REVOKED,
    ]
    role = _events(event=Event.ROLE_CHANGED)[0]
    assert role.target_label == "bob@example.com: member → admin" and role.target_type == "accounts.Membership"


def test_invitation_accepted_and_workspace_created(client_for, alice, workspace, django_capture_on_commit_callbacks):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        client_for(alice).post(
            reverse("accounts:members", args=[workspace.pk]), {"email": "erin@example.com", "role": "member"}
        )
    accept_path = re.search(r"/invitations/[\w-]+/", str(mail.outbox[0].body)).group(0)  # type: ignore[union-attr]
    erin = UserFactory.create(email="erin@example.com")
    client_for(erin).post(accept_path)
    (accepted,) = _events(event=Event.INVITATION_ACCEPTED)
    assert accepted.actor_id == erin.pk and accepted.workspace_id == workspace.pk
    client_for(erin).post(reverse("accounts:workspace_list"), {"name": "Erin's"})
    created = Workspace.objects.get(name="Erin's")
    assert _events(event=Event.WORKSPACE_CREATED, workspace_id=created.pk, actor_id=erin.pk)


def test_admin_changes_are_recorded(client, bob, workspace):
    staff = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(staff)
    added = client.post(
        "/admin/chat/quotaoverride/add/", {"workspace": workspace.pk, "user": "", "questions_per_day": "5"}
    )
    assert added.status_code == 302
    (quota,) = _events(event=Event.QUOTA_OVERRIDE_CHANGED)
    assert quota.actor_id == staff.pk and quota.workspace_id == workspace.pk
    assert quota.target_type == "chat.QuotaOverride" and quota.target_label.startswith("added")
    bob_m = Membership.objects.get(user=bob, workspace=workspace)
    client.post(f"/admin/accounts/membership/{bob_m.pk}/delete/", {"post": "yes"})
    (removed,) = _events(event=Event.ADMIN_ACTION, actor_id=staff.pk)
    assert removed.workspace_id == workspace.pk and removed.target_id == str(bob_m.pk)
    client.post("/admin/accounts/user/", {"action": "deactivate", "_selected_action": [bob.pk]})
    assert _events(event=Event.ADMIN_ACTION, actor_id=staff.pk, target_label="deactivated bob@example.com")
    client.post(f"/admin/accounts/workspace/{workspace.pk}/delete/", {"post": "yes"})
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    (deleted,) = _events(event=Event.WORKSPACE_DELETED)
    assert deleted.actor_id == staff.pk and deleted.target_label == "Acme"
    assert _events(workspace_id=workspace.pk, event=Event.QUOTA_OVERRIDE_CHANGED)  # the trail outlives it


def test_limit_fields_changed_in_the_admin_count_as_quota_overrides(alice, workspace, rf):
    """What the change forms of users and workspaces log (``ModelAdmin.log_change`` with the changed fields'
    names): a change to a limit field is a quota-override event, any other change an admin action."""
    from django.contrib import admin

    staff = User.objects.create_superuser(email="root@example.com", password="x")
    request = rf.post("/admin/")
    request.user = staff

    def change(obj: User | Workspace, fields: list[str]) -> None:
        admin.site.get_model_admin(type(obj)).log_change(request, obj, [{"changed": {"fields": fields}}])

    change(alice, ["Uploads per hour"])
    change(alice, ["Workspaces max", "Name"])
    change(workspace, ["Invitations per day"])
    change(alice, ["Name"])
    events = [(e.event, e.workspace_id, e.target_type) for e in _events(actor_id=staff.pk, event__startswith="admin.")]
    assert events == [
        (Event.QUOTA_OVERRIDE_CHANGED, None, "accounts.User"),
        (Event.QUOTA_OVERRIDE_CHANGED, None, "accounts.User"),
        (Event.QUOTA_OVERRIDE_CHANGED, workspace.pk, "accounts.Workspace"),
        (Event.ADMIN_ACTION, None, "accounts.User"),
    ]


def test_a_bulk_delete_in_the_admin_records_one_event_per_object(client, bob, charlie, workspace):
    """The admin's ``delete_selected`` action logs two objects or more with ``bulk_create`` (no ``post_save``):
    each deleted object still gets its own event, through the admin site's log hooks."""
    from chat.models import QuotaOverride

    staff = User.objects.create_superuser(email="root@example.com", password="x")
    client.force_login(staff)
    Membership.objects.create(user=charlie, workspace=workspace, role=Membership.Role.MEMBER)
    memberships = list(Membership.objects.filter(workspace=workspace, user__in=[bob, charlie]))
    overrides = [
        QuotaOverride.objects.create(workspace=workspace, questions_per_day=5),
        QuotaOverride.objects.create(user=bob, questions_per_day=3),
    ]
    for url, rows in (("/admin/accounts/membership/", memberships), ("/admin/chat/quotaoverride/", overrides)):
        bulk = {"action": "delete_selected", "_selected_action": [row.pk for row in rows], "post": "yes"}
        assert client.post(url, bulk).status_code == 302
        assert not type(rows[0]).objects.filter(pk__in=[row.pk for row in rows]).exists()

    removed = _events(event=Event.ADMIN_ACTION, actor_id=staff.pk)
    assert sorted((e.target_type, e.target_id, e.workspace_id) for e in removed) == sorted(
        ("accounts.Membership", str(m.pk), workspace.pk) for m in memberships
    )
    quota = _events(event=Event.QUOTA_OVERRIDE_CHANGED, actor_id=staff.pk)
    assert sorted((e.target_id, e.workspace_id) for e in quota) == sorted(
        [(str(overrides[0].pk), workspace.pk), (str(overrides[1].pk), None)]
    )
    assert all(e.target_label.startswith("deleted ") and e.ip == "127.0.0.1" for e in removed + quota)


def test_every_admin_of_the_site_is_audited():
    """Ours and third-party ones (auth's Group, allauth's email addresses, knox's tokens) alike."""
    from django.apps import apps
    from django.contrib import admin

    from accounts.admin_site import AuditedAdminMixin

    registered = [admin.site.get_model_admin(m) for m in apps.get_models() if admin.site.is_registered(m)]
    assert len(registered) > 15
    assert all(isinstance(model_admin, AuditedAdminMixin) for model_admin in registered)
