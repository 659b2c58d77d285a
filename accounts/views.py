"""Pages for workspaces, members, invitations and the account (HTTP adapters over services)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts.forms import ApiTokenForm, InvitationForm, ProfileForm, RoleForm, WorkspaceForm
from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership, User
from accounts.permissions import membership_get
from accounts.selectors import (
    SESSION_WORKSPACE_KEY,
    api_token_list,
    invitation_list_pending,
    membership_list,
    workspace_current_or_404,
    workspace_list_for_user,
)
from accounts.services import api_tokens, invitations, memberships, workspaces
from config.errors import ApplicationError


def _member_of(request: AuthenticatedHttpRequest, workspace_id: object) -> Membership:
    return membership_get(user=request.user, workspace_id=workspace_id)


def _attempt(request: HttpRequest, action: Callable[[], object], success: str) -> bool:
    """Run a service call; show ``success`` or the domain error as a flash message."""
    try:
        action()
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


def _members_url(workspace_id: int) -> str:
    return reverse("accounts:members", kwargs={"workspace_id": workspace_id})


@login_required
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    workspace = workspace_current_or_404(request=request)
    return redirect("accounts:workspace_detail", workspace_id=workspace.pk)


@login_required
def workspace_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = workspaces.workspace_create(owner=request.user, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            request.session[SESSION_WORKSPACE_KEY] = workspace.pk
            messages.success(request, f"Workspace “{workspace.name}” created.")
            return redirect("accounts:members", workspace_id=workspace.pk)
    context = {"form": form, "workspaces": workspace_list_for_user(user=request.user)}
    return render(request, "accounts/workspace_list.html", context)


@login_required
def workspace_detail(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    membership = _member_of(request, workspace_id)
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    context = {"workspace": membership.workspace, "membership": membership}
    return render(request, "accounts/workspace_detail.html", context)


@login_required
@require_POST
def workspace_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    membership = _member_of(request, request.POST.get("workspace_id"))
    request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("home")
    return redirect(next_url)


@login_required
def members(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    membership = _member_of(request, workspace_id)
    workspace = membership.workspace
    invite_form = InvitationForm(request.POST or None)
    if request.method == "POST" and invite_form.is_valid():
        email = invite_form.cleaned_data["email"]
        invite = partial(
            invitations.invitation_create, actor=membership, email=email, role=invite_form.cleaned_data["role"]
        )
        if _attempt(request, invite, f"Invitation sent to {email}."):
            return redirect(_members_url(workspace.pk))
    rename_form = WorkspaceForm(initial={"name": workspace.name})
    context = {
        "workspace": workspace,
        "membership": membership,
        "members": membership_list(workspace=workspace),
        "invitations": invitation_list_pending(workspace=workspace) if membership.can_manage else [],
        "invite_form": invite_form,
        "rename_form": rename_form,
        "roles": Membership.Role.choices,
    }
    return render(request, "accounts/members.html", context)


@login_required
@require_POST
def workspace_rename(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    actor = _member_of(request, workspace_id)
    form = WorkspaceForm(request.POST)
    if form.is_valid():
        _attempt(request, lambda: workspaces.workspace_rename(actor=actor, name=form.cleaned_data["name"]), "Renamed.")
    else:
        messages.error(request, "A workspace needs a name of at most 100 characters.")
    return redirect(_members_url(workspace_id))


def _target_member(actor: Membership, membership_id: int) -> Membership:
    target = Membership.objects.select_related("user").filter(pk=membership_id, workspace=actor.workspace).first()
    if target is None:
        raise Http404("No such member.")
    return target


@login_required
@require_POST
def member_role(request: AuthenticatedHttpRequest, workspace_id: int, membership_id: int) -> HttpResponse:
    actor = _member_of(request, workspace_id)
    target = _target_member(actor, membership_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        role = form.cleaned_data["role"]
        change = partial(memberships.membership_change_role, actor=actor, membership=target, role=role)
        _attempt(request, change, f"{target.user.email} is now {Membership.Role(role).label.lower()}.")
    return redirect(_members_url(workspace_id))


@login_required
@require_POST
def member_remove(request: AuthenticatedHttpRequest, workspace_id: int, membership_id: int) -> HttpResponse:
    actor = _member_of(request, workspace_id)
    target = _target_member(actor, membership_id)
    if target.pk == actor.pk:
        return workspace_leave(request, workspace_id)
    remove = partial(memberships.membership_remove, actor=actor, membership=target)
    _attempt(request, remove, f"{target.user.email} was removed.")
    return redirect(_members_url(workspace_id))


@login_required
@require_POST
def workspace_leave(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    membership = _member_of(request, workspace_id)
    name = membership.workspace.name
    if _attempt(request, lambda: memberships.membership_leave(membership=membership), f"You left “{name}”."):
        request.session.pop(SESSION_WORKSPACE_KEY, None)
        return redirect("home")
    return redirect(_members_url(workspace_id))


@login_required
@require_POST
def invitation_revoke(request: AuthenticatedHttpRequest, workspace_id: int, invitation_id: int) -> HttpResponse:
    actor = _member_of(request, workspace_id)
    _attempt(request, lambda: invitations.invitation_revoke(actor=actor, invitation_id=invitation_id), "Withdrawn.")
    return redirect(_members_url(workspace_id))


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the invitation (anyone holding the link); POST joins, for the logged-in invitee."""
    try:
        invitation = invitations.invitation_get_by_token(token=token)
    except ApplicationError as exc:
        return render(request, "accounts/invitation.html", {"error": exc.message}, status=404)
    if request.method == "POST" and isinstance(request.user, User):
        try:
            membership = invitations.invitation_accept(user=request.user, token=token)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
            messages.success(request, f"You joined “{membership.workspace.name}”.")
            return redirect("accounts:workspace_detail", workspace_id=membership.workspace_id)
    return render(request, "accounts/invitation.html", {"invitation": invitation, "next": request.path})


@login_required
def account(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(request.POST or None, initial={"name": user.name})
    if request.method == "POST" and form.is_valid():
        user.name = form.cleaned_data["name"]
        user.save(update_fields=["name"])
        messages.success(request, "Profile saved.")
        return redirect("accounts:account")
    context = {
        "form": form,
        "tokens": api_token_list(user=user),
        "new_token": request.session.pop("new_api_token", None),
        "token_form": ApiTokenForm(user=user),
    }
    return render(request, "accounts/account.html", context)


@login_required
@require_POST
def token_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST, user=request.user)
    if not form.is_valid():
        messages.error(request, "Choose the token's access (full or read-only) and workspaces (all or one of yours).")
        return redirect("accounts:account")
    workspace = form.cleaned_data["workspace"]
    try:
        _, secret = api_tokens.api_token_create(
            user=request.user, scope=form.cleaned_data["scope"], workspace_id=workspace.pk if workspace else None
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except ValidationError as exc:  # the membership ended since the form was checked
        messages.error(request, " ".join(exc.messages))
    else:
        request.session["new_api_token"] = secret  # shown once, on the next page view
    return redirect("accounts:account")


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, token_key: str) -> HttpResponse:
    revoke = partial(api_tokens.api_token_revoke, user=request.user, token_key=token_key)
    _attempt(request, revoke, "Token revoked.")
    return redirect("accounts:account")
