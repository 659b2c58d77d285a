"""Receivers that put authentication and admin events on the audit trail (``accounts.services.audit``).

Authentication events come from Django's and allauth's signals (they carry the request): sign-up, log-in,
failed log-in, log-out, password change/set/reset, email change. Staff changes in the admin come from Django's
``LogEntry`` rows (one per added, changed or deleted object): a change to a limit override (chat
``QuotaOverride``, documents ``WorkspaceLimitOverride``, a user's ``uploads_per_hour``/``workspaces_max``, a
workspace's ``invitations_per_day``) is a quota-override event, any other an admin action. A deleted workspace
is recorded by ``post_delete`` however it was deleted (the admin's bulk delete writes its log entries with
``bulk_create``, which sends no ``post_save``).
"""

from __future__ import annotations

import json
from typing import Any

from allauth.account import signals as allauth_signals
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.audit_models import AuditEvent
from accounts.models import User, Workspace
from accounts.services.audit import audit_record

Event = AuditEvent.Event

_QUOTA_MODELS = frozenset({("chat", "quotaoverride"), ("documents", "workspacelimitoverride")})
_QUOTA_FIELDS = {
    ("accounts", "user"): {"uploads per hour", "workspaces max"},
    ("accounts", "workspace"): {"invitations per day"},
}


@receiver(allauth_signals.user_signed_up, dispatch_uid="audit_signup")
def _signed_up(request: HttpRequest, user: User, **kwargs: object) -> None:
    audit_record(event=Event.SIGNUP, actor=user, target=user, request=request)


@receiver(auth_signals.user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender: type, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    audit_record(event=Event.LOGIN, actor=user, target=user, request=request)


@receiver(auth_signals.user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(
    sender: str, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: object
) -> None:
    email = str(credentials.get("email") or credentials.get("username") or "")
    audit_record(event=Event.LOGIN_FAILED, actor_email=email, target_label=email, request=request)


@receiver(auth_signals.user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender: type, request: HttpRequest | None, user: User | None, **kwargs: object) -> None:
    if user is not None:
        audit_record(event=Event.LOGOUT, actor=user, target=user, request=request)


@receiver(allauth_signals.password_changed, dispatch_uid="audit_password_changed")
@receiver(allauth_signals.password_set, dispatch_uid="audit_password_set")
def _password_changed(request: HttpRequest, user: User, **kwargs: object) -> None:
    audit_record(event=Event.PASSWORD_CHANGED, actor=user, target=user, request=request)


@receiver(allauth_signals.password_reset, dispatch_uid="audit_password_reset")
def _password_reset(request: HttpRequest, user: User, **kwargs: object) -> None:
    audit_record(event=Event.PASSWORD_RESET, actor=user, target=user, request=request)


@receiver(allauth_signals.email_changed, dispatch_uid="audit_email_changed")
def _email_changed(
    request: HttpRequest, user: User, from_email_address: Any, to_email_address: Any, **kw: object
) -> None:
    old = getattr(from_email_address, "email", "") or ""
    label = f"{old} → {getattr(to_email_address, 'email', '')}" if old else str(to_email_address.email)
    audit_record(event=Event.EMAIL_CHANGED, actor=user, target=user, target_label=label, request=request)


def _changed_fields(entry: LogEntry) -> set[str]:
    try:
        parts = json.loads(entry.change_message or "[]")
    except ValueError:
        return set()
    fields: set[str] = set()
    for part in parts if isinstance(parts, list) else []:
        fields.update(str(name).lower() for name in part.get("changed", {}).get("fields", []))
    return fields


def _admin_event(entry: LogEntry, model_key: tuple[str, str]) -> str:
    if model_key in _QUOTA_MODELS or _changed_fields(entry) & _QUOTA_FIELDS.get(model_key, set()):
        return Event.QUOTA_OVERRIDE_CHANGED
    return Event.ADMIN_ACTION


def _workspace_of(entry: LogEntry, model_key: tuple[str, str]) -> int | None:
    if model_key == ("accounts", "workspace"):
        object_id = str(entry.object_id or "")
        return int(object_id) if object_id.isdigit() else None
    try:
        target = entry.get_edited_object()
    except Exception:  # (the object may be gone, or its model no longer installed)
        return None
    workspace_id = getattr(target, "workspace_id", None)
    return workspace_id if isinstance(workspace_id, int) else None


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_log_entry")
def _admin_logged(sender: type, instance: LogEntry, created: bool, raw: bool = False, **kwargs: object) -> None:
    if not created or raw or instance.content_type is None:
        return
    model_key = (instance.content_type.app_label, instance.content_type.model)
    if model_key == ("accounts", "workspace") and instance.action_flag == DELETION:
        return  # recorded by _workspace_deleted
    verb = {1: "added", 2: "changed", 3: "deleted"}.get(instance.action_flag, "")
    model = instance.content_type.model_class()
    target_type = model._meta.label if model is not None else ".".join(model_key)
    audit_record(
        event=_admin_event(instance, model_key),
        actor=instance.user,
        workspace_id=_workspace_of(instance, model_key),
        target_ref=(target_type, str(instance.object_id or "")),
        target_label=f"{verb} {instance.object_repr}: {instance.get_change_message()}".strip(": "),
    )


@receiver(post_delete, sender=Workspace, dispatch_uid="audit_workspace_deleted")
def _workspace_deleted(sender: type, instance: Workspace, **kwargs: object) -> None:
    audit_record(event=Event.WORKSPACE_DELETED, workspace_id=instance.pk, target=instance)
