"""API authentication: django-rest-knox Bearer tokens, with their scope enforced (one choke point).

A read-only token may only read: every API view authenticates through ``ScopedTokenAuthentication`` (the DRF
default), which refuses any unsafe method of a read-only token before the view runs, whatever the view's own
permission classes. Two non-GET operations count as reads and are allowed (``READ_ONLY_TOKEN_ALLOWED``):

- ``POST /api/v1/search/``: search is a POST only so that the query travels in the body, not in URLs and access
  logs; it writes nothing and returns what ``GET /api/v1/documents/{id}/chunks/`` could read anyway.
- ``DELETE /api/v1/auth/token/``: a token revoking itself only takes away its own access.

Session-authenticated requests (the browser, the Swagger UI) are not affected.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from accounts.selectors import api_token_scope

# (URL name, method) pairs a read-only token may call besides the safe methods; see the module docstring.
READ_ONLY_TOKEN_ALLOWED = frozenset({("api:search", "POST"), ("api:auth_token", "DELETE")})


class TokenReadOnlyError(PermissionDenied):
    default_code = "token_read_only"
    default_detail = (
        "This API token is read-only: it may use GET, HEAD and OPTIONS (and search), nothing that changes data."
    )


class ScopedTokenAuthentication(TokenAuthentication):
    """knox's ``Authorization: Bearer <token>`` authentication, refusing writes of read-only tokens.

    ``authenticate`` returns ``(user, AuthToken)`` or None (no Bearer header: the next authenticator runs).

    Raises:
        AuthenticationFailed: as knox (401): unknown, expired or malformed token, inactive user.
        TokenReadOnlyError: a read-only token with an unsafe method (403, code ``token_read_only``).
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result: tuple[Any, Any] | None = super().authenticate(request)
        if result is not None and request.method not in SAFE_METHODS:
            check_token_may_write(token=result[1], request=request)
        return result


def check_token_may_write(*, token: Any, request: Request) -> None:
    """Refuse the unsafe ``request`` made with knox ``token`` when the token is read-only.

    Raises:
        TokenReadOnlyError: the token's scope is ``read`` and the operation is not in ``READ_ONLY_TOKEN_ALLOWED``.
    """
    from accounts.models import ApiTokenScope

    if api_token_scope(token=token) != ApiTokenScope.Scope.READ:
        return
    match = request._request.resolver_match
    if match is not None and (match.view_name, request.method) in READ_ONLY_TOKEN_ALLOWED:
        return
    raise TokenReadOnlyError()


class ScopedTokenScheme(KnoxTokenScheme):
    """OpenAPI: the same ``knoxApiToken`` Bearer scheme as knox's own class (drf-spectacular matches exact classes)."""

    target_class = "accounts.auth.ScopedTokenAuthentication"
