"""django-allauth customisation: through its adapter only (no copied views)."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from config.request_log import client_ip

logger = logging.getLogger(__name__)

LOGIN_LOCKED_CODE = "too_many_login_attempts"  # the code of allauth's ValidationError when login_failed trips


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Sign-up can be closed with ``ACCOUNT_ALLOW_SIGNUP=false`` (invitations still need accounts then
        made by staff)."""
        return bool(settings.ACCOUNT_ALLOW_SIGNUP)

    def get_client_ip(self, request: HttpRequest) -> str:
        """The address the login limits count by: ``config.request_log.client_ip`` (also the log lines' and the audit
        trail's), so an address beyond the trusted proxies is resolved once, one way. Raises PermissionDenied
        (allauth's contract) if there is no valid one."""
        ip = client_ip(request)
        if ip is None:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """The account a failed-login counter belongs to: the login, lower-cased, and nothing the client picks.

        allauth prefixes it with the current site's domain, which without ``django.contrib.sites`` is the
        request's ``Host`` header: every name in ``ALLOWED_HOSTS`` would get a counter of its own.
        """
        login = credentials.get("email", credentials.get("username", "")) or ""
        return f"login:{login.strip().lower()}"

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """allauth's ``login_failed`` limits, used by every password check (login page, reauthentication,
        ``accounts.services.users.user_authenticate``); a refusal is logged (never the password)."""
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError as exc:
            if exc.code == LOGIN_LOCKED_CODE:
                logger.warning(
                    "login refused, too many failed attempts: login=%r ip=%s path=%s",
                    credentials.get("email", credentials.get("username", "")),
                    self.get_client_ip(request),
                    request.path,
                )
            raise

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        logger.info(
            "login failed: login=%r ip=%s path=%s",
            credentials.get("email", credentials.get("username", "")),
            self.get_client_ip(request),
            request.path,
        )
