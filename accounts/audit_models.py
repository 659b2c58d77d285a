"""The audit trail's row: one security-relevant event, append-only (re-exported by ``accounts.models``)."""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.utils import timezone

from config.request_log import REQUEST_ID_MAX_LENGTH


class AuditEvent(models.Model):
    """Who did what, to what, in which workspace, from where; written by ``accounts.services.audit.audit_record``.

    Append-only: a PostgreSQL trigger (django-pgtrigger ``Protect``) refuses every UPDATE and DELETE, whatever
    sends it (ORM, admin, raw SQL); only the retention purge (``audit_purge_expired``) deletes, inside
    ``pgtrigger.ignore``. The actor and the workspace are plain ids (and the actor's email at the time), not
    foreign keys: deleting a user or a workspace must neither cascade into the trail nor be blocked by it.
    """

    class Event(models.TextChoices):
        SIGNUP = "user.signup", "Signed up"
        LOGIN = "user.login", "Logged in"
        LOGIN_FAILED = "user.login_failed", "Failed log-in"
        LOGOUT = "user.logout", "Logged out"
        PASSWORD_CHANGED = "user.password_changed", "Password changed"
        PASSWORD_RESET = "user.password_reset", "Password reset"
        EMAIL_CHANGED = "user.email_changed", "Email changed"
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked"
        INVITATION_SENT = "invitation.sent", "Invitation sent"
        INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
        ROLE_CHANGED = "member.role_changed", "Role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        WORKSPACE_CREATED = "workspace.created", "Workspace created"
        WORKSPACE_DELETED = "workspace.deleted", "Workspace deleted"
        DOCUMENT_UPLOADED = "document.uploaded", "Document uploaded"
        DOCUMENT_VERSION = "document.new_version", "New document version"
        DOCUMENT_DELETED = "document.deleted", "Document deleted"
        DOCUMENT_DOWNLOADED = "document.downloaded", "Document downloaded"
        QUOTA_OVERRIDE_CHANGED = "admin.quota_override", "Quota override changed"
        ADMIN_ACTION = "admin.action", "Admin action"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="The acting user's id; empty: anonymous.")
    actor_email = models.CharField(max_length=254, blank=True)
    workspace_id = models.BigIntegerField(null=True, blank=True)
    event = models.CharField(max_length=32, choices=Event.choices)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=REQUEST_ID_MAX_LENGTH, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace_id", "-created_at"], name="audit_workspace_time")]
        triggers = [
            pgtrigger.Protect(name="audit_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.event} by {self.actor_email or 'anonymous'}"
