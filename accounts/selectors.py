"""Reads about users and workspaces: no writes here (run on every page, through the context processor).

Access checks are in ``accounts.permissions``, writes in ``accounts.services``. Imports go one way:
``models`` <- ``selectors`` <- ``permissions`` <- ``services`` <- views, API, signals, commands.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import Case, Count, F, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiTokenScope, AuditEvent, Invitation, Membership, User, Workspace
from config.logs import log_context_bind

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django_stubs_ext import WithAnnotations

SESSION_WORKSPACE_KEY = "workspace_id"


class WorkspaceRoleAnnotations(TypedDict):
    """What ``workspace_list_for_user`` adds to each workspace."""

    role: str
    member_count: int


def workspace_list_for_user(*, user: User) -> QuerySet[WithAnnotations[Workspace, WorkspaceRoleAnnotations]]:
    """The workspaces ``user`` is a member of, each annotated with ``role`` and ``member_count``.

    For an API request whose token is limited to one workspace (``user.api_workspace_id``), only that one.
    """
    role = Membership.objects.filter(workspace=OuterRef("pk"), user=user).values("role")[:1]
    member_count = (
        Membership.objects.filter(workspace=OuterRef("pk")).values("workspace").annotate(n=Count("id")).values("n")
    )
    workspaces = Workspace.objects.filter(memberships__user=user)
    if user.api_workspace_id is not None:
        workspaces = workspaces.filter(pk=user.api_workspace_id)
    return workspaces.annotate(role=Subquery(role), member_count=Subquery(member_count)).order_by(
        F("personal_for").asc(nulls_last=True), "name", "id"
    )


def workspace_get_personal(*, user: User) -> Workspace:
    """``user``'s personal workspace. A read: the workspace is made with the user (``accounts.signals``).

    Raises:
        Workspace.DoesNotExist: the user has none (a row inserted without the ORM's signals, or a personal
            workspace deleted by staff); they get a new one when they next sign in.
    """
    return Workspace.objects.get(personal_for=user)


def workspace_current(*, request: HttpRequest) -> Workspace | None:
    """The workspace the browser session is working in: the one last switched to, else the personal one,
    else the first the user belongs to (``workspace_list_for_user``'s order).

    Returns None for anonymous users and for users without any workspace. A stale session value (membership
    removed) falls back silently. Reads only.
    """
    user = request.user
    if not isinstance(user, User):
        return None
    workspace_id = request.session.get(SESSION_WORKSPACE_KEY)
    if workspace_id is not None:
        workspace = Workspace.objects.filter(pk=workspace_id, memberships__user=user).first()
        if workspace is not None:
            return workspace
    personal = Workspace.objects.filter(personal_for=user).first()
    return personal or workspace_list_for_user(user=user).first()


def workspace_current_or_404(*, request: HttpRequest) -> Workspace:
    """``workspace_current`` for pages behind ``@login_required``: never None.

    Raises:
        Http404: the request is anonymous (or its user has no workspace at all).
    """
    workspace = workspace_current(request=request)
    if workspace is None:
        raise Http404("No such workspace.")
    log_context_bind(workspace_id=workspace.pk)
    return workspace


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    """Members of ``workspace``, owners first. The caller has already checked access."""
    order = {"owner": 0, "admin": 1, "member": 2}
    rank = Case(*[When(role=r, then=Value(i)) for r, i in order.items()], output_field=IntegerField())
    return Membership.objects.filter(workspace=workspace).select_related("user").order_by(rank, "user__email")


def invitation_list_pending(*, workspace: Workspace) -> QuerySet[Invitation]:
    """Unaccepted, unexpired invitations of ``workspace``."""
    return Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True, expires_at__gt=timezone.now())


# --- API tokens -----------------------------------------------------------------------------------


def api_token_scope(*, token: Any) -> ApiTokenScope:
    """The scope row of knox ``token``: ``scope`` (an ``ApiTokenScope.Scope`` value) and ``workspace_id`` (None: all
    the user's workspaces). An unsaved full-access, unlimited row for a token made before scopes existed."""
    found = ApiTokenScope.objects.filter(token_id=token.digest).first()
    return found or ApiTokenScope(scope=ApiTokenScope.Scope.FULL, workspace=None)


def api_token_list(*, user: User) -> QuerySet[Any]:
    """``user``'s API tokens (knox ``AuthToken``), newest first, each annotated with ``scope_name`` and
    ``workspace_name`` (None: not limited to one workspace)."""
    from knox.models import get_token_model

    scope = Coalesce(F("api_scope__scope"), Value(ApiTokenScope.Scope.FULL.value))
    return (
        get_token_model()
        .objects.filter(user=user)
        .annotate(scope_name=scope, workspace_name=F("api_scope__workspace__name"))
        .order_by("-created")
    )


def audit_event_list(
    *,
    workspace_id: int,
    event: str = "",
    actor: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """The audit events of one workspace, newest first, filtered by ``event`` (an ``AuditEvent.Event`` value;
    empty: all), ``actor`` (part of the actor's email, case-insensitive; empty: all) and the dates ``since`` and
    ``until`` (both inclusive, in the site's ``TIME_ZONE`` as the page shows times; None: open). The dates become
    a ``created_at`` range, which the ``(workspace_id, -created_at)`` index bounds. The caller checks that the
    reader may see the workspace."""
    events = AuditEvent.objects.filter(workspace_id=workspace_id)
    if event:
        events = events.filter(event=event)
    if actor:
        events = events.filter(actor_email__icontains=actor)
    zone = timezone.get_current_timezone()
    if since is not None:
        events = events.filter(created_at__gte=datetime.combine(since, time.min, tzinfo=zone))
    if until is not None:
        events = events.filter(created_at__lt=datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone))
    return events.order_by("-created_at", "-id")
