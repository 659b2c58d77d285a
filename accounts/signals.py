"""Every user has a personal workspace, made by ``accounts.services.workspace_create_personal``:

- when the user is created, however (sign-up, admin, ``createsuperuser``, tests);
- when a user who lacks one signs in (a row inserted without the ORM's signals, or a personal workspace deleted
  by staff), so that pages, which only read it (``accounts.selectors``), find one.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services import workspace_create_personal


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_personal_workspace")
def _create_personal_workspace(
    sender: type, instance: User, created: bool, raw: bool = False, **kwargs: object
) -> None:
    if created and not raw:
        workspace_create_personal(user=instance)


@receiver(user_logged_in, dispatch_uid="accounts_personal_workspace_on_login")
def _ensure_personal_workspace(sender: type, user: User, **kwargs: object) -> None:
    workspace_create_personal(user=user)
