"""Writes about workspaces, memberships, invitations and API tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiTokenScope, Invitation, InvitationDayCount, Membership, User, Workspace
from accounts.permissions import check_can_change_member, require_manager
from config.errors import ApplicationError, ConflictError, ForbiddenError, NotFoundError, TooManyRequestsError

if TYPE_CHECKING:
    from django.http import HttpRequest
    from knox.models import AuthToken

logger = logging.getLogger(__name__)
Role = Membership.Role


class LastOwnerError(ApplicationError):
    code = "last_owner"


class LoginLockedError(TooManyRequestsError):
    code = "too_many_login_attempts"


class WorkspaceLimitError(TooManyRequestsError):
    code = "workspace_limit"


class InvitationLimitError(TooManyRequestsError):
    code = "invitation_limit"


def _seconds_until_next_utc_day() -> int:
    now = timezone.now().astimezone(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    return max(1, int((tomorrow - now).total_seconds()))


# --- authentication -------------------------------------------------------------------------------


def user_authenticate(*, request: HttpRequest, email: str, password: str) -> User:
    """The active user whose login is ``email`` and password ``password``, checked through allauth's adapter.

    The check counts against the same failed-login limits as the login page (allauth's ``login_failed`` rate
    limit: ``LOGIN_FAILED_LIMIT`` per account per ``LOGIN_FAILED_WINDOW_SECONDS``, and
    ``LOGIN_FAILED_PER_IP_PER_MINUTE``); once an account is locked even the right password is refused until
    the window has passed. ``request`` is the Django request (its client address is resolved with
    ``TRUSTED_PROXY_COUNT``).

    Raises:
        LoginLockedError: too many failed attempts (``Retry-After``: seconds after which a try may succeed,
            at most the longest window).
        ApplicationError: wrong email or password.
        ForbiddenError: the password is right but the account is inactive.
    """
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import ValidationError

    from accounts.adapters import LOGIN_LOCKED_CODE

    try:
        user = get_adapter(request).authenticate(request, email=email, password=password)
    except ValidationError as exc:
        if exc.code != LOGIN_LOCKED_CODE:
            raise
        retry = max(settings.LOGIN_FAILED_WINDOW_SECONDS, 60)  # the per-account window, or the per-IP minute
        raise LoginLockedError(
            "Too many failed login attempts. Try again later.", headers={"Retry-After": str(retry)}
        ) from None
    if user is None:
        raise ApplicationError("Wrong email or password.")
    if not user.is_active:  # allauth hands back a right password of an inactive account (for its page)
        raise ForbiddenError("This account is inactive.")
    return user


# --- workspaces -----------------------------------------------------------------------------------


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


# --- memberships ----------------------------------------------------------------------------------


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
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
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
    membership.delete()
    logger.info("membership %s removed by user %s", membership.pk, actor.user_id)


@transaction.atomic
def membership_leave(*, membership: Membership) -> None:
    """The member leaves the workspace. Raises LastOwnerError for its last owner."""
    _ensure_not_last_owner(membership, "leave the workspace")
    membership.delete()


# --- invitations ----------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_accept_path(token: str) -> str:
    return reverse("accounts:invitation_accept", kwargs={"token": token})


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str = Role.MEMBER) -> tuple[Invitation, str]:
    """Invite ``email`` to the actor's workspace and email them a link; returns ``(invitation, token)``.

    The token is shown only in the email (only its SHA-256 is stored); a newer invitation to the same
    address replaces a pending one. The email is sent after the transaction commits.

    Raises:
        ForbiddenError: the actor is a plain member, or an admin inviting an owner.
        ConflictError: the address already belongs to a member.
        InvitationLimitError: the workspace already sent ``INVITATIONS_PER_WORKSPACE_PER_DAY`` invitations
            this UTC day, replaced and withdrawn ones included (``Retry-After``: seconds until midnight UTC).
    """
    require_manager(actor)
    if role == Role.OWNER and actor.role != Role.OWNER:
        check_can_change_member(actor=actor, target=actor, new_role=role)
    email = email.strip().lower()
    workspace = actor.workspace
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ConflictError(f"{email} is already a member of this workspace.")
    _invitation_count_claim(workspace=workspace, actor=actor)
    Invitation.objects.filter(workspace=workspace, email=email, accepted_at__isnull=True).delete()
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        workspace=workspace,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor.user,
        expires_at=timezone.now() + settings.WORKSPACE_INVITATION_TTL,
    )
    invitation.full_clean()
    invitation.save()
    transaction.on_commit(lambda: _invitation_send(invitation=invitation, token=token))
    return invitation, token


def _invitation_count_claim(*, workspace: Workspace, actor: Membership) -> None:
    """Count one invitation against today's limit (a conditional UPDATE: no two requests take the last one)."""
    limit, day = settings.INVITATIONS_PER_WORKSPACE_PER_DAY, timezone.now().astimezone(UTC).date()
    InvitationDayCount.objects.get_or_create(workspace=workspace, day=day)
    counter = InvitationDayCount.objects.filter(workspace=workspace, day=day, sent__lt=limit)
    if not counter.update(sent=F("sent") + 1):
        logger.warning("invitation refused for workspace %s (user %s): %d today", workspace.pk, actor.user_id, limit)
        raise InvitationLimitError(
            f"This workspace has sent its {limit} invitations for today. More can be sent after midnight UTC.",
            headers={"Retry-After": str(_seconds_until_next_utc_day())},
        )


def _invitation_send(*, invitation: Invitation, token: str) -> None:
    context = {
        "invitation": invitation,
        "inviter": invitation.invited_by,
        "url": settings.SITE_URL + invitation_accept_path(token),
        "expires_at": invitation.expires_at,
    }
    subject = f"[Groundwork] You are invited to {invitation.workspace.name}"
    body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.email])
    logger.info("invitation %s sent for workspace %s", invitation.pk, invitation.workspace_id)


def invitation_get_by_token(*, token: str) -> Invitation:
    """The pending invitation behind a link token.

    Raises:
        NotFoundError: unknown, already used or expired (one message for all three, on purpose).
    """
    invitation = Invitation.objects.select_related("workspace").filter(token_hash=_token_hash(token)).first()
    if invitation is None or not invitation.is_pending:
        raise NotFoundError("This invitation link is invalid, expired or already used.")
    return invitation


class InvitationAddressError(ApplicationError):
    code = "invitation_address"


def invitation_check_address(*, user: User, email: str) -> None:
    """Check that ``user`` may accept an invitation sent to ``email`` (and held by them: the link's token).

    Accepted when ``email`` is one of the user's *verified* addresses (allauth ``EmailAddress``), or when it is
    the account's own login address (``user.email``, verified or not): the link went to that mailbox only, so
    holding it proves the address as well as allauth's confirmation link would. An address merely added to an
    account (an unverified secondary one) proves nothing and is refused.

    Raises:
        InvitationAddressError: the invitation is for an address the user has not shown to own.
    """
    from allauth.account.models import EmailAddress

    email = email.lower()
    if user.email.lower() == email:
        return
    addresses = EmailAddress.objects.filter(user=user, email__iexact=email)
    if any(address.verified for address in addresses):
        return
    if addresses:
        raise InvitationAddressError(
            f"This invitation was sent to {email}, which is not verified on your account yet. "
            "Confirm it with the link emailed to it (Account page, email addresses), then accept."
        )
    raise InvitationAddressError(f"This invitation was sent to {email}. Log in with that address to accept it.")


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> Membership:
    """Join the invitation's workspace as ``user``; the link then stops working.

    The invitation is for one address, which the user must own (see ``invitation_check_address``). Joining a
    workspace one already belongs to keeps the current role.

    Raises:
        NotFoundError: the link is unknown, used or expired.
        InvitationAddressError: the invitation was sent to an address the user has not verified.
    """
    invitation = invitation_get_by_token(token=token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise NotFoundError("This invitation link is invalid, expired or already used.")
    invitation_check_address(user=user, email=invitation.email)
    membership, _ = Membership.objects.get_or_create(
        user=user, workspace=invitation.workspace, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    logger.info("invitation %s accepted by user %s", invitation.pk, user.pk)
    return membership


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation_id: int) -> None:
    """Withdraw a pending invitation of the actor's workspace. Raises NotFoundError, ForbiddenError."""
    require_manager(actor)
    deleted, _ = Invitation.objects.filter(
        pk=invitation_id, workspace=actor.workspace, accepted_at__isnull=True
    ).delete()
    if not deleted:
        raise NotFoundError("No such invitation.")


# --- API tokens -----------------------------------------------------------------------------------


@transaction.atomic
def api_token_create(
    *, user: User, scope: str = ApiTokenScope.Scope.FULL, workspace_id: int | None = None
) -> tuple[AuthToken, str]:
    """A new personal API token; returns ``(row, secret)``. Only a hash is stored; the secret is shown once.

    ``scope`` is an ``ApiTokenScope.Scope`` value: ``full`` (everything the user may do) or ``read`` (safe
    methods only, enforced by ``accounts.auth``). ``workspace_id``: None for all the user's workspaces, else the
    only workspace the token reaches (``accounts.auth``). Expires after ``REST_KNOX["TOKEN_TTL"]``.

    Raises:
        ConflictError: the user already has ``TOKEN_LIMIT_PER_USER`` live tokens.
        ValidationError: ``scope`` is not a scope, or ``workspace_id`` is not a workspace the user is a member of
            (``{"workspace": [...]}``: a 400 through the API's exception handler).
    """
    from django.core.exceptions import ValidationError
    from knox.models import get_token_model
    from knox.settings import knox_settings

    if workspace_id is not None and not Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
        raise ValidationError({"workspace": "You are not a member of this workspace."})
    model = get_token_model()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and model.objects.filter(user=user, expiry__gt=timezone.now()).count() >= limit:
        raise ConflictError(f"You already have {limit} API tokens. Revoke one first.")
    row, secret = model.objects.create(user=user, expiry=knox_settings.TOKEN_TTL)
    token_scope = ApiTokenScope(token=row, scope=scope, workspace_id=workspace_id)
    token_scope.full_clean(validate_unique=False)  # a new token: no row to collide with
    token_scope.save(force_insert=True)
    return row, secret


def api_token_revoke(*, user: User, token_key: str) -> None:
    """Revoke (delete) one of ``user``'s tokens by its public ``token_key``. Raises NotFoundError."""
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(user=user, token_key=token_key).delete()
    if not deleted:
        raise NotFoundError("No such token.")


def api_token_revoke_all(*, user: User, reason: str) -> int:
    """Revoke (delete) every API token of ``user``; returns how many. ``reason`` goes to the log only.

    Called when the user's password, login email or active flag changes (``accounts.signals``).
    """
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(user=user).delete()
    if deleted:
        logger.info("revoked %d API tokens of user %s: %s", deleted, user.pk, reason)
    return deleted


@transaction.atomic
def demo_account_ensure(*, email: str, password: str) -> User:
    """Create or reset a local demo user with a verified primary email and a personal workspace; returns it.

    The password is set only when it differs, so re-running (``make run`` does at every start) keeps the demo
    user's API tokens, which a password change revokes.
    """
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first() or user_model.objects.create_user(email=email)
    if not user.check_password(password):
        user.set_password(password)
    user.is_active = True
    user.save()
    EmailAddress.objects.update_or_create(user=user, email=email.lower(), defaults={"verified": True, "primary": True})
    workspace_create_personal(user=user)  # an existing user may lack one (e.g. deleted by staff)
    return user
