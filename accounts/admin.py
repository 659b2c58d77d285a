from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, Invitation, Membership, User, Workspace
from accounts.services.audit import audit_record


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user", "workspace"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("name",)}),
        (_("Limits"), {"fields": ("workspaces_max", "uploads_per_hour")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [MembershipInline]
    actions = ["deactivate"]

    @admin.action(description="Deactivate the selected users (and revoke their API tokens)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        # One save per user, not queryset.update(): the save signals revoke the API tokens (accounts.signals).
        users = list(queryset.filter(is_active=True))
        for user in users:
            user.is_active = False
            user.save(update_fields=["is_active"])
            audit_record(event=AuditEvent.Event.ADMIN_ACTION, target=user, target_label=f"deactivated {user.email}")
        self.message_user(request, f"Deactivated {len(users)} user(s).")


class PersonalFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "personal"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "Personal"), ("no", "Shared")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        if self.value() == "yes":
            return queryset.filter(personal_for__isnull=False)
        if self.value() == "no":
            return queryset.filter(personal_for__isnull=True)
        return queryset


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "personal_for", "member_count", "created_at"]
    list_filter = [PersonalFilter, "created_at"]
    search_fields = ["name", "memberships__user__email"]
    autocomplete_fields = ["personal_for"]
    readonly_fields = ["created_by"]
    inlines = [MembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        return super().get_queryset(request).annotate(n_members=Count("memberships")).select_related("personal_for")

    @admin.display(ordering="n_members", description="members")
    def member_count(self, obj: Workspace) -> int:
        return obj.n_members  # type: ignore[attr-defined]  # annotated by get_queryset


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "created_at"]
    search_fields = ["user__email", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]
    list_select_related = ["user", "workspace"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "workspace", "role", "invited_by", "expires_at", "accepted_at"]
    list_filter = ["role", "accepted_at", "expires_at"]
    search_fields = ["email", "workspace__name"]
    readonly_fields = ["token_hash", "accepted_at", "accepted_by"]
    list_select_related = ["workspace", "invited_by"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail for staff: every workspace's events, read-only (no add, change or delete; the table's
    trigger would refuse the last two anyway)."""

    list_display = ["created_at", "event", "actor_email", "workspace_id", "target_type", "target_label", "ip"]
    list_filter = ["event", "created_at", "target_type"]
    search_fields = ["actor_email", "target_label", "target_id", "ip", "request_id", "=workspace_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
