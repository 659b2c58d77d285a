from django.urls import path

from accounts import audit_views, views

app_name = "accounts"

urlpatterns = [
    path("workspaces/", views.workspace_list, name="workspace_list"),
    path("workspaces/switch/", views.workspace_switch, name="workspace_switch"),
    path("workspaces/<int:workspace_id>/", views.workspace_detail, name="workspace_detail"),
    path("workspaces/<int:workspace_id>/members/", views.members, name="members"),
    path("workspaces/<int:workspace_id>/audit/", audit_views.audit, name="audit"),
    path("workspaces/<int:workspace_id>/audit/export.csv", audit_views.audit_export, name="audit_export"),
    path("workspaces/<int:workspace_id>/rename/", views.workspace_rename, name="workspace_rename"),
    path("workspaces/<int:workspace_id>/leave/", views.workspace_leave, name="workspace_leave"),
    path("workspaces/<int:workspace_id>/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path(
        "workspaces/<int:workspace_id>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"
    ),
    path(
        "workspaces/<int:workspace_id>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("profile/", views.account, name="account"),
    path("profile/tokens/", views.token_create, name="token_create"),
    path("profile/tokens/<str:token_key>/revoke/", views.token_revoke, name="token_revoke"),
]
