"""Writes about personal API tokens (knox): creating one with its scope, revoking one or all."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiTokenScope, Membership, User
from accounts.services.audit import Event, audit_record
from config.errors import ConflictError, NotFoundError

if TYPE_CHECKING:
    from knox.models import AuthToken

logger = logging.getLogger(__name__)


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
    label = f"{row.token_key} ({scope}{f', workspace {workspace_id}' if workspace_id else ''})"
    audit_record(event=Event.TOKEN_CREATED, actor=user, workspace_id=workspace_id, target=row, target_label=label)
    return row, secret


@transaction.atomic
def api_token_revoke(*, user: User, token_key: str) -> None:
    """Revoke (delete) one of ``user``'s tokens by its public ``token_key``. Raises NotFoundError."""
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(user=user, token_key=token_key).delete()
    if not deleted:
        raise NotFoundError("No such token.")
    audit_record(
        event=Event.TOKEN_REVOKED, actor=user, target_ref=("knox.AuthToken", token_key), target_label=token_key
    )


def api_token_revoke_all(*, user: User, reason: str) -> int:
    """Revoke (delete) every API token of ``user``; returns how many. ``reason`` goes to the log only.

    Called when the user's password, login email or active flag changes (``accounts.signals``).
    """
    from knox.models import get_token_model

    deleted, _ = get_token_model().objects.filter(user=user).delete()
    if deleted:
        logger.info("revoked %d API tokens of user %s: %s", deleted, user.pk, reason)
        audit_record(event=Event.TOKEN_REVOKED, target=user, target_label=f"all tokens: {reason}")
    return deleted
