"""Request types for views that require a signed-in user (``@login_required`` pages, authenticated API views).

django-stubs types ``request.user`` as ``AbstractBaseUser | AnonymousUser``; behind authentication it is always
our ``User``, and annotating the request with these classes says so once instead of a ``type: ignore`` per use
(the pattern django-stubs' README recommends).
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """A page request behind ``@login_required``."""

    user: User


class AuthenticatedRequest(Request):
    """A DRF request behind ``IsAuthenticated``."""

    user: User
