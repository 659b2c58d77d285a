"""Every new user, however created (sign-up, admin, createsuperuser, tests), gets a personal workspace."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="accounts_personal_workspace")
def _create_personal_workspace(
    sender: type, instance: object, created: bool, raw: bool = False, **kwargs: object
) -> None:
    if created and not raw:
        from accounts.services import workspace_create_personal

        workspace_create_personal(user=instance)  # type: ignore[arg-type]
