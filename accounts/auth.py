"""API authentication: django-rest-knox Bearer tokens, with their scope enforced (one choke point).

Every API view authenticates through ``ScopedTokenAuthentication`` (the DRF default), which applies the token's
scope (``accounts.models.ApiTokenScope``) before the view runs, whatever the view's own permission classes.

Read-only tokens may only read: any unsafe method is refused. Two non-GET operations count as reads and are
allowed (``READ_ONLY_TOKEN_ALLOWED``):

- ``POST /api/v1/search/``: search is a POST only so that the query travels in the body, not in URLs and access
  logs; it writes nothing and returns what ``GET /api/v1/documents/{id}/chunks/`` could read anyway.
- ``DELETE /api/v1/auth/token/``: a token revoking itself only takes away its own access.

Tokens limited to one workspace reach only that workspace, in two steps that together cover every API path:

- The objects a URL names (``/workspaces/{id}/``, ``/documents/{id}/...``, ``/conversations/{id}/...``,
  ``/messages/{id}/...``) must belong to it (``URL_KWARG_WORKSPACE``), else 404, the answer a non-member gets;
  a URL keyword missing from that table is refused too (fail closed). Creating a workspace is refused (403).
- The request's user carries the limit (``User.api_workspace_id``), and accounts' workspace lookups stay within
  it: ``workspace_list_for_user`` lists only it, ``accounts.permissions.workspace_get_for_request`` (the
  ``workspace`` parameter of lists, uploads, search and chat) answers 404 for any other and defaults to it.

A limited token of a user who left the workspace is refused (401); deleting the workspace deletes the token.
Session-authenticated requests (the browser, the Swagger UI) are not affected.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotFound, PermissionDenied
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from accounts.models import ApiTokenScope, Membership, User
from accounts.selectors import api_token_scope

# (URL name, method) pairs a read-only token may call besides the safe methods; see the module docstring.
READ_ONLY_TOKEN_ALLOWED = frozenset({("api:search", "POST"), ("api:auth_token", "DELETE")})

# (URL name, method) pairs a token limited to one workspace may not call: they would reach beyond it.
WORKSPACE_TOKEN_REFUSED = frozenset({("api:workspace_list", "POST")})

# API URL keyword -> (model label, lookup of the id of the workspace the object belongs to); None: the keyword is
# the workspace id. The other apps' models are named, not imported, so accounts still imports no other app.
URL_KWARG_WORKSPACE: dict[str, tuple[str, str] | None] = {
    "workspace_id": None,
    "document_id": ("documents.Document", "workspace_id"),
    "conversation_id": ("chat.Conversation", "workspace_id"),
    "message_id": ("chat.Message", "conversation__workspace_id"),
}


class TokenReadOnlyError(PermissionDenied):
    default_code = "token_read_only"
    default_detail = (
        "This API token is read-only: it may use GET, HEAD and OPTIONS (and search), nothing that changes data."
    )


class TokenWorkspaceLimitedError(PermissionDenied):
    default_code = "token_workspace_limited"
    default_detail = "This API token is limited to one workspace: it cannot create workspaces."


class TokenWorkspaceLeftError(AuthenticationFailed):
    default_code = "token_workspace_left"
    default_detail = "This API token is limited to a workspace you are no longer a member of: it reaches nothing."


class ScopedTokenAuthentication(TokenAuthentication):
    """knox's ``Authorization: Bearer <token>`` authentication, applying the token's scope (module docstring).

    ``authenticate`` returns ``(user, AuthToken)`` or None (no Bearer header: the next authenticator runs). For a
    token limited to a workspace, ``user.api_workspace_id`` is that workspace's id.

    Raises:
        AuthenticationFailed: as knox (401): unknown, expired or malformed token, inactive user;
            ``TokenWorkspaceLeftError`` (401): the token's workspace is no longer one of the user's.
        TokenReadOnlyError: a read-only token with an unsafe method (403, code ``token_read_only``).
        TokenWorkspaceLimitedError: a limited token creating a workspace (403, code ``token_workspace_limited``).
        NotFound: a limited token naming an object outside its workspace (404, as for a non-member).
    """

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result: tuple[Any, Any] | None = super().authenticate(request)
        if result is None:
            return None
        user, token = result
        scope = api_token_scope(token=token)
        if request.method not in SAFE_METHODS:
            check_token_may_write(scope=scope, request=request)
        if scope.workspace_id is not None:
            check_token_workspace(user=user, workspace_id=scope.workspace_id, request=request)
            user.api_workspace_id = scope.workspace_id
        return result


def _operation(request: Request) -> tuple[str, str | None]:
    match = request._request.resolver_match
    return (match.view_name if match is not None else "", request.method)


def check_token_may_write(*, scope: ApiTokenScope, request: Request) -> None:
    """Refuse the unsafe ``request`` made with a token of ``scope`` when the token is read-only.

    Raises:
        TokenReadOnlyError: the scope is ``read`` and the operation is not in ``READ_ONLY_TOKEN_ALLOWED``.
    """
    if scope.scope == ApiTokenScope.Scope.READ and _operation(request) not in READ_ONLY_TOKEN_ALLOWED:
        raise TokenReadOnlyError()


def check_token_workspace(*, user: User, workspace_id: int, request: Request) -> None:
    """Refuse ``request``, made with a token limited to workspace ``workspace_id``, if it reaches beyond it.

    Checks the user is still a member of the workspace, the operation is not one of ``WORKSPACE_TOKEN_REFUSED``,
    and every object the URL names belongs to the workspace (``URL_KWARG_WORKSPACE``). One query, plus one per
    object named in the URL.

    Raises:
        TokenWorkspaceLeftError: the user is no longer a member of the workspace (401).
        TokenWorkspaceLimitedError: the operation is in ``WORKSPACE_TOKEN_REFUSED`` (403).
        NotFound: an object of the URL is not in the workspace, or does not exist, or the URL has a keyword that
            ``URL_KWARG_WORKSPACE`` does not know (404).
    """
    if not Membership.objects.filter(user=user, workspace_id=workspace_id).exists():
        raise TokenWorkspaceLeftError()
    if _operation(request) in WORKSPACE_TOKEN_REFUSED:
        raise TokenWorkspaceLimitedError()
    match = request._request.resolver_match
    for name, value in (match.kwargs if match is not None else {}).items():
        if name not in URL_KWARG_WORKSPACE:
            raise NotFound()
        lookup = URL_KWARG_WORKSPACE[name]
        if lookup is None:
            found = str(value) == str(workspace_id)
        else:
            model = apps.get_model(lookup[0])
            found = model._base_manager.filter(pk=value, **{lookup[1]: workspace_id}).exists()
        if not found:
            raise NotFound()


class ScopedTokenScheme(KnoxTokenScheme):
    """OpenAPI: the same ``knoxApiToken`` Bearer scheme as knox's own class (drf-spectacular matches exact classes)."""

    target_class = "accounts.auth.ScopedTokenAuthentication"
