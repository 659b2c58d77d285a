"""The ``Permissions-Policy`` response header (Django 5.2 has no setting for it; django-csp covers CSP only)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """``{"camera": [], "fullscreen": ["self"]}`` -> ``camera=(), fullscreen=(self)``.

    Each key is a browser feature; its list holds the allowed origins: empty for none, ``"self"`` and ``"*"``
    as the bare tokens, any other origin quoted as the header's structured-field syntax requires.
    """
    parts = []
    for feature, origins in policy.items():
        tokens = [origin if origin in {"self", "*"} else f'"{origin}"' for origin in origins]
        parts.append(f"{feature}=({' '.join(tokens)})")
    return ", ".join(parts)


class PermissionsPolicyMiddleware:
    """Adds ``Permissions-Policy`` from ``settings.PERMISSIONS_POLICY`` to every response that has none yet.

    An empty setting adds no header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = settings.PERMISSIONS_POLICY
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions_policy_header(policy)
        return response
