"""Writes about invitations: inviting an address (within the daily limit per workspace), accepting, withdrawing."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, InvitationDayCount, Membership, User, Workspace
from accounts.permissions import check_can_change_member, require_manager
from accounts.services.audit import Event, audit_record
from config.clock import seconds_until_next_utc_day
from config.errors import ApplicationError, ConflictError, NotFoundError, TooManyRequestsError

logger = logging.getLogger(__name__)
Role = Membership.Role


class InvitationLimitError(TooManyRequestsError):
    code = "invitation_limit"


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
        InvitationLimitError: the workspace already sent ``invitation_limit_for(workspace)`` invitations this
            UTC day (the workspace's ``invitations_per_day``, else ``INVITATIONS_PER_WORKSPACE_PER_DAY``),
            replaced and withdrawn ones included (``Retry-After``: seconds until midnight UTC).
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
    label = f"{email} as {role}"
    audit_record(
        event=Event.INVITATION_SENT, actor=actor.user, workspace_id=workspace.pk, target=invitation, target_label=label
    )
    transaction.on_commit(lambda: _invitation_send(invitation=invitation, token=token))
    return invitation, token


def invitation_limit_for(*, workspace: Workspace) -> int:
    """How many invitations ``workspace`` may send per UTC day: its ``invitations_per_day`` (set by staff in the
    admin, read afresh from the database) or else ``INVITATIONS_PER_WORKSPACE_PER_DAY``."""
    override = Workspace.objects.filter(pk=workspace.pk).values_list("invitations_per_day", flat=True).first()
    return override if override is not None else settings.INVITATIONS_PER_WORKSPACE_PER_DAY


def _invitation_count_claim(*, workspace: Workspace, actor: Membership) -> None:
    """Count one invitation against today's limit (a conditional UPDATE: no two requests take the last one)."""
    limit, day = invitation_limit_for(workspace=workspace), timezone.now().astimezone(UTC).date()
    InvitationDayCount.objects.get_or_create(workspace=workspace, day=day)
    counter = InvitationDayCount.objects.filter(workspace=workspace, day=day, sent__lt=limit)
    if not counter.update(sent=F("sent") + 1):
        logger.warning("invitation refused for workspace %s (user %s): %d today", workspace.pk, actor.user_id, limit)
        raise InvitationLimitError(
            f"This workspace has sent its {limit} invitations for today. More can be sent after midnight UTC.",
            headers={"Retry-After": str(seconds_until_next_utc_day())},
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
    label = f"{invitation.email} as {membership.role}"
    audit_record(
        event=Event.INVITATION_ACCEPTED,
        actor=user,
        workspace_id=invitation.workspace_id,
        target=invitation,
        target_label=label,
    )
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
