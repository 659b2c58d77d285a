"""django-allauth customisation: through its adapter only (no copied views)."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        """Sign-up can be closed with ``ACCOUNT_ALLOW_SIGNUP=false`` (invitations still need accounts then
        made by staff)."""
        return bool(settings.ACCOUNT_ALLOW_SIGNUP)
