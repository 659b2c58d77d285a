from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import api as accounts_api
from accounts import views as accounts_views
from chat import api as chat_api
from config import health, monitoring
from documents import api as documents_api
from retrieval import api as retrieval_api

api_v1 = [
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("auth/token/", accounts_api.AuthTokenApi.as_view(), name="auth_token"),
    path("workspaces/", accounts_api.WorkspaceListApi.as_view(), name="workspace_list"),
    path("workspaces/<int:workspace_id>/", accounts_api.WorkspaceDetailApi.as_view(), name="workspace_detail"),
    path("documents/", documents_api.DocumentListApi.as_view(), name="document_list"),
    path("documents/batch/", documents_api.DocumentBatchUploadApi.as_view(), name="document_batch_upload"),
    path("documents/retry-failed/", documents_api.DocumentRetryFailedApi.as_view(), name="document_retry_failed"),
    path("documents/<int:document_id>/", documents_api.DocumentDetailApi.as_view(), name="document_detail"),
    path(
        "documents/<int:document_id>/reprocess/",
        documents_api.DocumentReprocessApi.as_view(),
        name="document_reprocess",
    ),
    path(
        "documents/<int:document_id>/versions/",
        documents_api.DocumentVersionCreateApi.as_view(),
        name="document_version_create",
    ),
    path("documents/<int:document_id>/chunks/", documents_api.DocumentChunksApi.as_view(), name="document_chunks"),
    path("documents/<int:document_id>/file/", documents_api.DocumentFileApi.as_view(), name="document_file"),
    path("search/", retrieval_api.SearchApi.as_view(), name="search"),
    path("conversations/", chat_api.ConversationListApi.as_view(), name="conversation_list"),
    path("conversations/<int:conversation_id>/", chat_api.ConversationDetailApi.as_view(), name="conversation_detail"),
    path("conversations/<int:conversation_id>/messages/", chat_api.MessageCreateApi.as_view(), name="message_create"),
    path("messages/<int:message_id>/feedback/", chat_api.FeedbackApi.as_view(), name="message_feedback"),
]

# The admin has no password form of its own: anonymous visitors are sent to the login page, so one failed-login
# limit (allauth's, LOGIN_FAILED_LIMIT) guards every way in. Signed-in non-staff users get 403.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("", accounts_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api_docs"),
    path("documents/", include("documents.urls")),
    path("search/", include("retrieval.urls")),
    path("chat/", include("chat.urls")),
    path("", include("accounts.urls")),
]

# Errors raised before a view runs: HTML pages, or the API's error shape under /api/ (config.api).
handler400 = "config.api.bad_request"
handler403 = "config.api.permission_denied"
handler404 = "config.api.page_not_found"
handler500 = "config.api.server_error"
