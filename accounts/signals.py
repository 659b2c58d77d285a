"""Receivers on users.

Every user has a personal workspace, made by ``accounts.services.workspaces.workspace_create_personal``:

- when the user is created, however (sign-up, admin, ``createsuperuser``, tests);
- when a user who lacks one signs in (a row inserted without the ORM's signals, or a personal workspace deleted
  by staff), so that pages, which only read it (``accounts.selectors``), find one.

A user's API tokens are revoked (``accounts.services.api_tokens.api_token_revoke_all``) when a save of the user
changes the password (allauth's change, reset and set flows, the admin, ``changepassword``; not Django's
re-hashing of the same password at login), the login email (allauth's "make primary", the admin) or deactivates
the account.
Watching the row, not each flow's signal, covers every path that saves the user through the ORM.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services.api_tokens import api_token_revoke_all
from accounts.services.workspaces import workspace_create_personal

_CREDENTIAL_FIELDS = frozenset({"password", "email", "is_active"})


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_personal_workspace")
def _create_personal_workspace(
    sender: type, instance: User, created: bool, raw: bool = False, **kwargs: object
) -> None:
    if created and not raw:
        workspace_create_personal(user=instance)


@receiver(user_logged_in, dispatch_uid="accounts_personal_workspace_on_login")
def _ensure_personal_workspace(sender: type, user: User, **kwargs: object) -> None:
    workspace_create_personal(user=user)


def _credential_change(old: User, new: User) -> str | None:
    """Why ``new`` (about to be saved over ``old``) invalidates the user's API tokens, or None."""
    # set_password() leaves the raw password in _password until save() has run the validators' password_changed
    # hooks; Django's login-time re-hash of the same password (a new hash, same secret) clears it first.
    new_secret = getattr(new, "_password", None) is not None or not new.has_usable_password()
    if old.password != new.password and new_secret:
        return "password changed"
    if old.email.lower() != new.email.lower():
        return "email changed"
    if old.is_active and not new.is_active:
        return "deactivated"
    return None


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_token_revoke_check")
def _note_credential_change(
    sender: type[User], instance: User, raw: bool = False, update_fields: Any = None, **kwargs: object
) -> None:
    instance._token_revoke_reason = None  # type: ignore[attr-defined]  # carried from pre_save to post_save
    if raw or instance._state.adding or (update_fields is not None and not _CREDENTIAL_FIELDS & set(update_fields)):
        return
    old = sender._default_manager.filter(pk=instance.pk).only(*_CREDENTIAL_FIELDS).first()
    if old is not None:
        instance._token_revoke_reason = _credential_change(old, instance)  # type: ignore[attr-defined]


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_token_revoke")
def _revoke_tokens_on_credential_change(sender: type, instance: User, created: bool, **kwargs: object) -> None:
    reason = getattr(instance, "_token_revoke_reason", None)
    if reason and not created:
        instance._token_revoke_reason = None  # type: ignore[attr-defined]
        api_token_revoke_all(user=instance, reason=reason)
