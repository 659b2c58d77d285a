"""Users, workspaces (tenants), memberships and invitations."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from config.models import BaseModel

if TYPE_CHECKING:
    from django.db.models.deletion import Collector


def null_or_positive(field: str) -> models.Q:
    """``field`` is empty (the setting's default applies) or at least 1: the check of a per-user or per-workspace
    limit override (0 would lock everyone out; staff who mean that deactivate the account instead)."""
    return models.Q(**{f"{field}__isnull": True}) | models.Q(**{f"{field}__gte": 1})


class UserManager(DjangoUserManager["User"]):
    """Email is the login: no username anywhere."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields: object) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    # Both type: ignore[override]: email takes the place of Django's username parameter.
    def create_user(self, email: str, password: str | None = None, **extra_fields: object) -> User:  # type: ignore[override]
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields: object) -> User:  # type: ignore[override]
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None  # type: ignore[assignment]  # removes AbstractUser's username field
    email = models.EmailField("email address", unique=True)
    name = models.CharField(max_length=150, blank=True)
    workspaces_max = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many workspaces this user may create, the personal one included. "
        "Empty: the WORKSPACES_PER_USER_MAX setting.",
    )
    uploads_per_hour = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many uploads (documents and new versions) this user may send per UTC hour, across "
        "workspaces. Empty: the UPLOADS_PER_USER_PER_HOUR setting.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()

    # Not a column: the workspace an API request's token is limited to (set per request by ``accounts.auth``), which
    # accounts' workspace lookups (``accounts.permissions``, ``workspace_list_for_user``) then stay within. None:
    # no limit (pages, session API calls, unlimited tokens).
    api_workspace_id: int | None = None

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(
                condition=null_or_positive("uploads_per_hour"),
                name="user_uploads_per_hour_positive",
                violation_error_message="Uploads per hour: leave it empty (the setting) or enter at least 1.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


def validate_text_search_config(value: str) -> None:
    """The name must be a text search configuration installed in PostgreSQL (``pg_ts_config``)."""
    from django.core.exceptions import ValidationError
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_ts_config WHERE cfgname = %s", [value])
        if cursor.fetchone() is None:
            raise ValidationError(f"“{value}” is not a PostgreSQL text search configuration (e.g. english, simple).")


class Workspace(BaseModel):
    """A tenant: documents, chunks and conversations belong to exactly one workspace."""

    name = models.CharField(max_length=100)
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_workspace",
        help_text="Set for the personal workspace every user gets at sign-up.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who created it: counts towards their WORKSPACES_PER_USER_MAX.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")
    text_search_config = models.CharField(
        max_length=63,
        default="english",
        validators=[validate_text_search_config],
        help_text="PostgreSQL text search configuration for this workspace's chunks (english, simple, german, ...).",
    )
    embedding_variant = models.CharField(
        max_length=32,
        blank=True,
        editable=False,
        help_text="The embedding variant its chunks' vectors were made by (documents.embedding_variants); empty "
        "until its first chunks are stored; then changed by re-embedding (documents.services.reembed).",
    )
    invitations_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How many invitations this workspace may send per UTC day, replaced and withdrawn ones "
        "included. Empty: the INVITATIONS_PER_WORKSPACE_PER_DAY setting.",
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=null_or_positive("invitations_per_day"),
                name="workspace_invitations_per_day_positive",
                violation_error_message="Invitations per day: leave it empty (the setting) or enter at least 1.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.personal_for_id is not None


class Membership(BaseModel):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_user_workspace_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "admin", "member"]), name="membership_role_valid"
            ),
        ]
        ordering = ["workspace_id", "created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class Invitation(BaseModel):
    """An emailed invitation to join a workspace. Only the SHA-256 of the link's token is stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} → {self.workspace}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class InvitationDayCount(models.Model):
    """How many invitations a workspace sent on one UTC day (``INVITATIONS_PER_WORKSPACE_PER_DAY``).

    A counter, not a count of ``Invitation`` rows: replaced and withdrawn invitations are deleted but still count.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    sent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "day"], name="invitation_day_count_unique")]

    def __str__(self) -> str:
        return f"{self.workspace_id} {self.day}: {self.sent}"


def DELETE_TOKEN(collector: Collector, field: models.Field[Any, Any], sub_objs: Iterable[Any], using: str) -> None:
    """``on_delete`` of ``ApiTokenScope.workspace``: a token limited to a deleted workspace is deleted with it.

    Deleting only the scope row (``CASCADE``) or clearing its workspace (``SET_NULL``) would turn the token into
    one for all the user's workspaces; this collects the tokens themselves (their scope rows follow by cascade).
    """
    token_model = field.model._meta.get_field("token").related_model
    assert token_model is not None and not isinstance(token_model, str)  # a resolved relation: knox's AuthToken
    tokens = token_model._base_manager.filter(pk__in=[scope.token_id for scope in sub_objs])
    collector.collect(tokens, source=field.related_model, nullable=False, fail_on_restricted=False)


class ApiTokenScope(models.Model):
    """What a personal API token (django-rest-knox ``AuthToken``) may do; one row per token.

    A token without a row (created before scopes existed) has full access to all the user's workspaces. The
    scope is enforced for every API view at authentication (``accounts.auth.ScopedTokenAuthentication``).
    ``workspace`` limits the token to that one workspace (while the user is a member of it); deleting the
    workspace deletes the token (``DELETE_TOKEN``), so a limited token never becomes an unlimited one.
    """

    class Scope(models.TextChoices):
        FULL = "full", "Full access"
        READ = "read", "Read-only"

    token = models.OneToOneField("knox.AuthToken", on_delete=models.CASCADE, primary_key=True, related_name="api_scope")
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)
    workspace = models.ForeignKey(
        Workspace,
        null=True,
        blank=True,
        on_delete=DELETE_TOKEN,
        related_name="+",
        help_text="Empty: all the user's workspaces. Set: only this one (the token is deleted with it).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(scope__in=["full", "read"]), name="api_token_scope_valid")
        ]

    def __str__(self) -> str:
        limit = f", workspace {self.workspace_id}" if self.workspace_id else ""
        return f"{self.token_id} ({self.scope}{limit})"


from accounts.audit_models import AuditEvent  # noqa: E402, F401  (the audit trail, in its own module)
