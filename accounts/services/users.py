"""Writes about users: password login through allauth, and the local demo account."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.services.workspaces import workspace_create_personal
from config.errors import ApplicationError, ForbiddenError, TooManyRequestsError

if TYPE_CHECKING:
    from django.http import HttpRequest

logger = logging.getLogger(__name__)


class LoginLockedError(TooManyRequestsError):
    code = "too_many_login_attempts"


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
