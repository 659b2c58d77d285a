from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/", views.create, name="create"),
    path("usage/", views.usage, name="usage"),
    path("citations/<int:citation_id>/", views.citation, name="citation"),
    path("<int:conversation_id>/", views.detail, name="detail"),
    path("<int:conversation_id>/rename/", views.rename, name="rename"),
    path("<int:conversation_id>/delete/", views.delete, name="delete"),
]
