"""Every workspace access check of Groundwork lives here; pages, API, admin and later apps call these.

The rule: someone who is not a member of a workspace gets ``Http404`` for it and for everything in it,
never 403, so the existence of another tenant's objects is never confirmed. A member whose role is too
low for an action gets ``ForbiddenError`` (403): they can already see the workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import Http404

from accounts.models import Membership, Workspace
from accounts.selectors import workspace_get_personal
from config.errors import ForbiddenError
from config.logs import log_context_bind

if TYPE_CHECKING:
    from accounts.models import User

Role = Membership.Role


def membership_get(*, user: User, workspace_id: object) -> Membership:
    """The caller's membership in workspace ``workspace_id``, with the workspace loaded.

    Raises:
        Http404: the user is anonymous, the id is malformed, the user is not a member, or the API request's
            token is limited to another workspace (``user.api_workspace_id``): the same answer as for a
            non-member, so a limited token learns nothing about the user's other workspaces.
    """
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such workspace.")
    try:
        workspace_pk = int(str(workspace_id))
    except (TypeError, ValueError):
        raise Http404("No such workspace.") from None
    if user.api_workspace_id is not None and workspace_pk != user.api_workspace_id:
        raise Http404("No such workspace.")
    membership = Membership.objects.select_related("workspace").filter(user=user, workspace_id=workspace_pk).first()
    if membership is None:
        raise Http404("No such workspace.")
    log_context_bind(user_id=user.pk, workspace_id=workspace_pk)
    return membership


def workspace_get_for_member(*, user: User, workspace_id: object) -> Workspace:
    """Workspace ``workspace_id`` if ``user`` is a member of it. Raises Http404 otherwise."""
    return membership_get(user=user, workspace_id=workspace_id).workspace


def workspace_get_for_request(*, user: User, workspace_id: object | None) -> Workspace:
    """The workspace an API call acts on: ``workspace_id`` if given (member check), else the one the request's
    token is limited to (``user.api_workspace_id``), else the personal one.

    Raises:
        Http404: ``workspace_id`` is given and the user is not a member of it (or the token is limited to another
            one), or it is not given and the user has no personal workspace.
    """
    if workspace_id in (None, "") and user.api_workspace_id is not None:
        workspace_id = user.api_workspace_id
    if workspace_id in (None, ""):
        try:
            workspace = workspace_get_personal(user=user)
        except Workspace.DoesNotExist:
            raise Http404("No such workspace.") from None
        log_context_bind(user_id=user.pk, workspace_id=workspace.pk)
        return workspace
    return workspace_get_for_member(user=user, workspace_id=workspace_id)


def require_manager(membership: Membership) -> None:
    """Owners and admins (``Membership.can_manage``) manage members and invitations and read the audit trail.
    Raises ForbiddenError for plain members."""
    if not membership.can_manage:
        raise ForbiddenError("Only workspace owners and admins can do that.")


def check_can_change_member(*, actor: Membership, target: Membership, new_role: str | None = None) -> None:
    """May ``actor`` change ``target``'s role to ``new_role`` (or remove them, when ``new_role`` is None)?

    Owners may do anything within their workspace; admins may not touch owners nor make anyone an owner.
    The last-owner rule is a business rule and is checked by the services.

    Raises:
        ForbiddenError: the actor's role does not allow it.
    """
    require_manager(actor)
    if actor.role == Role.OWNER:
        return
    if target.role == Role.OWNER or new_role == Role.OWNER:
        raise ForbiddenError("Only owners can change or remove owners, or make someone an owner.")
