"""REST API: who am I, workspaces, personal API tokens."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from accounts.http import AuthenticatedRequest
from accounts.models import ApiTokenScope
from accounts.permissions import membership_get
from accounts.selectors import membership_list, workspace_list_for_user
from accounts.services.api_tokens import api_token_create
from accounts.services.users import user_authenticate
from accounts.services.workspaces import workspace_create
from config.errors import ApplicationError, ForbiddenError


class WorkspaceOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    role = serializers.CharField()
    is_personal = serializers.BooleanField()
    member_count = serializers.IntegerField()


class MeApi(APIView):
    class MeOutput(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()
        workspaces = WorkspaceOutput(many=True)

    @extend_schema(responses=MeOutput)
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        data = {
            "id": user.pk,
            "email": user.email,
            "name": user.name,
            "workspaces": workspace_list_for_user(user=user),
        }
        return Response(self.MeOutput(data).data)


class WorkspaceListApi(APIView):
    class WorkspaceCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    @extend_schema(responses=WorkspaceOutput(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(WorkspaceOutput(workspace_list_for_user(user=request.user), many=True).data)

    @extend_schema(request=WorkspaceCreateInput, responses={201: WorkspaceOutput})
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = self.WorkspaceCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        workspace = workspace_create(owner=request.user, name=serializer.validated_data["name"])
        created = workspace_list_for_user(user=request.user).get(pk=workspace.pk)
        return Response(WorkspaceOutput(created).data, status=status.HTTP_201_CREATED)


class MemberOutput(serializers.Serializer):
    id = serializers.IntegerField(source="user.id")
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")
    role = serializers.CharField()


class WorkspaceDetailApi(APIView):
    class WorkspaceDetailOutput(WorkspaceOutput):
        members = MemberOutput(many=True)

    @extend_schema(responses=WorkspaceDetailOutput)
    def get(self, request: AuthenticatedRequest, workspace_id: int) -> Response:
        membership = membership_get(user=request.user, workspace_id=workspace_id)
        workspace = workspace_list_for_user(user=request.user).get(pk=membership.workspace_id)
        members = MemberOutput(membership_list(workspace=workspace), many=True).data
        return Response({**WorkspaceOutput(workspace).data, "members": members})


class AuthTokenApi(APIView):
    """``POST``: exchange email + password for a personal API token (optionally read-only: ``scope``; optionally
    limited to one workspace: ``workspace``).
    ``DELETE``: revoke the token in use."""

    throttle_scope = "token_create"

    class AuthTokenInput(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False)
        scope = serializers.ChoiceField(
            choices=ApiTokenScope.Scope.choices,
            default=ApiTokenScope.Scope.FULL,
            help_text="`full` (default): everything you may do. `read`: GET, HEAD and OPTIONS only, plus "
            "`POST /search/` (a read) and `DELETE /auth/token/` (revoking itself); anything else is 403 with "
            "code `token_read_only`.",
        )
        workspace = serializers.IntegerField(
            allow_null=True,
            default=None,
            help_text="Omitted or null (default): all your workspaces. A workspace id (one you are a member of, "
            "else 400): the token reaches only that workspace; anything in another one answers 404 as for a "
            "non-member, `GET /workspaces/` lists only it, an omitted `workspace` parameter means it, and "
            "creating workspaces is 403 (`token_workspace_limited`). If you leave the workspace the token "
            "is refused (401, `token_workspace_left`); if the workspace is deleted, so is the token.",
        )

    class AuthTokenOutput(serializers.Serializer):
        token = serializers.CharField()
        token_key = serializers.CharField()
        expiry = serializers.DateTimeField(allow_null=True)
        scope = serializers.ChoiceField(choices=ApiTokenScope.Scope.choices)
        workspace = serializers.IntegerField(allow_null=True, help_text="The only workspace it reaches; null: all.")

    def get_permissions(self) -> Sequence[BasePermission]:
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self) -> list[BaseThrottle]:
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=AuthTokenInput, responses={201: AuthTokenOutput, 409: None}, auth=[])
    def post(self, request: Request) -> Response:
        serializer = self.AuthTokenInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_authenticate(
            request=request._request,
            email=serializer.validated_data["email"],
            password=serializer.validated_data["password"],
        )
        if settings.ACCOUNT_EMAIL_VERIFICATION == "mandatory" and not _email_verified(user):
            raise ForbiddenError("Verify your email address before creating API tokens.")
        scope, workspace_id = serializer.validated_data["scope"], serializer.validated_data["workspace"]
        row, secret = api_token_create(user=user, scope=scope, workspace_id=workspace_id)
        body = {"token": secret, "token_key": row.token_key, "expiry": row.expiry, "scope": scope}
        body["workspace"] = workspace_id
        return Response(self.AuthTokenOutput(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        token = request.auth
        if token is None or not hasattr(token, "token_key"):
            raise ApplicationError("Send the token to revoke in the Authorization header (Bearer <token>).")
        token.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def _email_verified(user: object) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, verified=True).exists()
