"""Writes about workspaces: creation (within the per-user limit), the personal workspace, renaming."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from accounts.models import Membership, User, Workspace
from accounts.permissions import require_manager
from accounts.services.audit import Event, audit_record
from config.errors import TooManyRequestsError

logger = logging.getLogger(__name__)
Role = Membership.Role


class WorkspaceLimitError(TooManyRequestsError):
    code = "workspace_limit"


def workspace_limit_for(*, user: User) -> int:
    """How many workspaces ``user`` may create, the personal one included: ``user.workspaces_max`` (set by staff
    in the admin) or else ``WORKSPACES_PER_USER_MAX``."""
    return user.workspaces_max if user.workspaces_max is not None else settings.WORKSPACES_PER_USER_MAX


@transaction.atomic
def workspace_create(*, owner: User, name: str) -> Workspace:
    """Create a shared workspace with ``owner`` as its first owner (and creator).

    Raises:
        WorkspaceLimitError: ``owner`` already created ``workspace_limit_for(owner)`` workspaces (the personal
            one and those they handed over to other owners count; deleted ones do not). No ``Retry-After``:
            it lifts only when a workspace is deleted or staff raise the user's limit.
        ValidationError: ``name`` is blank or too long.
    """
    User.objects.select_for_update().filter(pk=owner.pk).first()  # one creation at a time per user
    owner.refresh_from_db(fields=["workspaces_max"])
    limit, created = workspace_limit_for(user=owner), Workspace.objects.filter(created_by=owner).count()
    if created >= limit:
        logger.warning("workspace creation refused for user %s: %d of %d workspaces", owner.pk, created, limit)
        raise WorkspaceLimitError(
            f"You have reached your limit of {limit} workspaces. Delete one, or ask an administrator "
            "to raise the limit."
        )
    workspace = Workspace(name=name.strip(), created_by=owner)
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    audit_record(event=Event.WORKSPACE_CREATED, actor=owner, workspace_id=workspace.pk, target=workspace)
    return workspace


@transaction.atomic
def workspace_create_personal(*, user: User) -> Workspace:
    """Create ``user``'s personal workspace (idempotent: returns the existing one)."""
    workspace, created = Workspace.objects.get_or_create(
        personal_for=user,
        defaults={"name": f"{(user.name or user.email.split('@')[0])[:80]}'s workspace", "created_by": user},
    )
    if created:
        Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
        audit_record(event=Event.WORKSPACE_CREATED, actor=user, workspace_id=workspace.pk, target=workspace)
    return workspace


@transaction.atomic
def workspace_rename(*, actor: Membership, name: str) -> Workspace:
    """Rename the actor's workspace. Raises ForbiddenError for plain members."""
    require_manager(actor)
    workspace = actor.workspace
    workspace.name = name.strip()
    workspace.full_clean()
    workspace.save(update_fields=["name", "updated_at"])
    return workspace
