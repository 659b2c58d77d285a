"""The admin site, with every staff change on the audit trail (``accounts.services.audit``).

Every ``ModelAdmin`` registered on the site, ours and third-party ones (Group, allauth's email addresses, knox
tokens) alike, is given :class:`AuditedAdminMixin`: the admin's own log hooks (``log_addition``, ``log_change``,
``log_deletions``: Django calls them for the add and change forms, the delete page and the ``delete_selected``
action) write, next to the admin's ``LogEntry`` rows, one audit event per object. A change to a limit override
(chat ``QuotaOverride``, documents ``WorkspaceLimitOverride``, a user's ``uploads_per_hour``/``workspaces_max``, a
workspace's ``invitations_per_day``) is a quota-override event, any other an admin action. A deleted workspace is
recorded by ``accounts.audit_signals`` (``post_delete``, however it was deleted), not here.

``config.apps.AdminConfig`` makes :class:`AuditedAdminSite` the default ``admin.site``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.admin.models import LogEntry

_QUOTA_MODELS = frozenset({"chat.QuotaOverride", "documents.WorkspaceLimitOverride"})
_QUOTA_FIELDS = {"accounts.User": {"uploads per hour", "workspaces max"}, "accounts.Workspace": {"invitations per day"}}
_VERBS = {1: "added", 2: "changed", 3: "deleted"}  # LogEntry's ADDITION, CHANGE, DELETION


def _changed_fields(entry: LogEntry) -> set[str]:
    """The verbose names (lower case) of the fields a change entry lists (``construct_change_message``'s JSON)."""
    try:
        parts = json.loads(entry.change_message or "[]")
    except ValueError:
        return set()
    fields: set[str] = set()
    for part in parts if isinstance(parts, list) else []:
        fields.update(str(name).lower() for name in part.get("changed", {}).get("fields", []))
    return fields


def _workspace_id(obj: Model) -> int | None:
    from accounts.models import Workspace

    workspace_id = obj.pk if isinstance(obj, Workspace) else getattr(obj, "workspace_id", None)
    return workspace_id if isinstance(workspace_id, int) else None


def audit_admin_entries(*, request: HttpRequest, entries: Iterable[tuple[LogEntry, Model]]) -> None:
    """Record each ``(log entry, object)`` pair the admin logged for ``request`` (its staff user is the actor): a
    quota-override event for a limit override, else an admin action; the label is the entry's verb, object and
    change message. Runs in the caller's transaction (database errors propagate)."""
    from django.contrib.admin.models import DELETION

    from accounts.audit_models import AuditEvent
    from accounts.models import Workspace
    from accounts.services.audit import audit_record

    for entry, obj in entries:
        if isinstance(obj, Workspace) and entry.action_flag == DELETION:
            continue  # recorded by accounts.audit_signals on post_delete
        label = obj._meta.label
        quota = label in _QUOTA_MODELS or bool(_changed_fields(entry) & _QUOTA_FIELDS.get(label, set()))
        verb = _VERBS.get(entry.action_flag, "")
        audit_record(
            event=AuditEvent.Event.QUOTA_OVERRIDE_CHANGED if quota else AuditEvent.Event.ADMIN_ACTION,
            request=request,
            workspace_id=_workspace_id(obj),
            target_ref=(label, str(entry.object_id or "")),
            target_label=f"{verb} {entry.object_repr}: {entry.get_change_message()}".strip(": "),
        )


class AuditedAdminMixin:
    """``ModelAdmin`` log hooks that also write the audit trail (:func:`audit_admin_entries`), one event per object.

    ``log_deletions`` is the hook that matters most: for two objects or more Django writes the log entries with
    ``bulk_create``, which sends no ``post_save``, so a receiver on ``LogEntry`` would miss bulk deletions."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> LogEntry:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        audit_admin_entries(request=request, entries=[(entry, obj)])
        return entry

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> LogEntry:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        audit_admin_entries(request=request, entries=[(entry, obj)])
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Iterable[Model]) -> list[LogEntry]:
        objects = list(queryset)  # still there: Django logs before it deletes
        entries = list(super().log_deletions(request, objects))  # type: ignore[misc]
        audit_admin_entries(request=request, entries=zip(entries, objects, strict=True))
        return entries


class AuditedAdminSite(admin.AdminSite):
    """Django's admin site, each registered ``ModelAdmin`` class given :class:`AuditedAdminMixin` first."""

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            attributes = {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__}
            admin_class = type(admin_class.__name__, (AuditedAdminMixin, admin_class), attributes)
        super().register(model_or_iterable, admin_class, **options)
