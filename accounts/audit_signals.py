"""Receivers that put authentication events and workspace deletions on the audit trail (``accounts.services.audit``).

Authentication events come from Django's and allauth's signals (they carry the request): sign-up, log-in,
failed log-in, log-out, password change/set/reset, email change. A deleted workspace is recorded by ``post_delete``
however it was deleted. Staff changes in the admin are recorded by the admin site itself
(``accounts.admin_site``).
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as allauth_signals
from django.contrib.auth import signals as auth_signals
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.audit_models import AuditEvent
from accounts.models import User, Workspace
from accounts.services.audit import audit_record

Event = AuditEvent.Event


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


@receiver(post_delete, sender=Workspace, dispatch_uid="audit_workspace_deleted")
def _workspace_deleted(sender: type, instance: Workspace, **kwargs: object) -> None:
    audit_record(event=Event.WORKSPACE_DELETED, workspace_id=instance.pk, target=instance)
