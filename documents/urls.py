from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("", views.index, name="index"),
    path("rows/", views.rows, name="rows"),
    path("upload/", views.upload, name="upload"),
    path("retry-failed/", views.retry_failed, name="retry_failed"),
    path("<int:document_id>/", views.detail, name="detail"),
    path("<int:document_id>/status/", views.status, name="status"),
    path("<int:document_id>/versions/", views.version_upload, name="version_upload"),
    path("<int:document_id>/reprocess/", views.reprocess, name="reprocess"),
    path("<int:document_id>/delete/", views.delete, name="delete"),
]
