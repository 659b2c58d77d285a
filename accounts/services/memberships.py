"""Writes about memberships: changing a member's role, removing a member, leaving a workspace."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import Membership
from accounts.permissions import check_can_change_member
from accounts.services.audit import Event, audit_record
from config.errors import ApplicationError

logger = logging.getLogger(__name__)
Role = Membership.Role


class LastOwnerError(ApplicationError):
    code = "last_owner"


def _ensure_not_last_owner(membership: Membership, action: str) -> None:
    if membership.role != Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(workspace_id=membership.workspace_id, role=Role.OWNER)
    if len(owners) <= 1:
        raise LastOwnerError(f"The last owner cannot {action}. Make someone else an owner first.")


@transaction.atomic
def membership_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    """Give ``membership`` the role ``role`` (owner | admin | member).

    Raises:
        ForbiddenError: the actor may not make this change (see ``check_can_change_member``).
        LastOwnerError: it would leave the workspace without an owner.
        ApplicationError: ``role`` is not a role.
    """
    if role not in Role.values:
        raise ApplicationError(f"Unknown role {role!r}.")
    check_can_change_member(actor=actor, target=membership, new_role=role)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _ensure_not_last_owner(membership, "step down")
    label = f"{membership.user.email}: {membership.role} → {role}"
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        event=Event.ROLE_CHANGED,
        actor=actor.user,
        workspace_id=actor.workspace_id,
        target=membership,
        target_label=label,
    )
    logger.info("membership %s role set to %s by user %s", membership.pk, role, actor.user_id)
    return membership


@transaction.atomic
def membership_remove(*, actor: Membership, membership: Membership) -> None:
    """Remove a member from the actor's workspace (removing oneself is ``membership_leave``).

    Raises:
        ForbiddenError, LastOwnerError: as for ``membership_change_role``.
    """
    if membership.pk == actor.pk:
        membership_leave(membership=membership)
        return
    check_can_change_member(actor=actor, target=membership)
    _ensure_not_last_owner(membership, "be removed")
    audit_record(
        event=Event.MEMBER_REMOVED,
        actor=actor.user,
        workspace_id=actor.workspace_id,
        target=membership,
        target_label=f"{membership.user.email} ({membership.role})",
    )
    membership.delete()
    logger.info("membership %s removed by user %s", membership.pk, actor.user_id)


@transaction.atomic
def membership_leave(*, membership: Membership) -> None:
    """The member leaves the workspace. Raises LastOwnerError for its last owner."""
    _ensure_not_last_owner(membership, "leave the workspace")
    audit_record(
        event=Event.MEMBER_REMOVED,
        actor=membership.user,
        workspace_id=membership.workspace_id,
        target=membership,
        target_label=f"{membership.user.email} ({membership.role}) left",
    )
    membership.delete()
