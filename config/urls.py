from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import api as accounts_api
from accounts import views as accounts_views
from config import health

api_v1 = [
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("auth/token/", accounts_api.AuthTokenApi.as_view(), name="auth_token"),
    path("workspaces/", accounts_api.WorkspaceListApi.as_view(), name="workspace_list"),
    path("workspaces/<int:workspace_id>/", accounts_api.WorkspaceDetailApi.as_view(), name="workspace_detail"),
]

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api_docs"),
    path("documents/", include("documents.urls")),
    path("chat/", include("chat.urls")),
    path("", include("accounts.urls")),
]
