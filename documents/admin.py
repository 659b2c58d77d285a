"""Admin for documents (upload through the same service as pages and API), chunks (read-only), the
per-workspace limit overrides, and workspaces' embeddings (variant, re-embedding)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from accounts.models import User, Workspace
from config.errors import ApplicationError
from documents.embedding_variants import configured_variant, same_space
from documents.limits import workspace_limits, workspace_usage_lines
from documents.models import (
    LIMIT_OVERRIDE_FIELDS,
    Chunk,
    Document,
    DocumentVersion,
    ReembedJob,
    WorkspaceEmbedding,
    WorkspaceLimitOverride,
)
from documents.services.lifecycle import document_delete, document_reprocess, document_retry_failed
from documents.services.reembed import reembed_enqueue, reembed_start
from documents.services.upload import document_upload


class DocumentUploadForm(forms.ModelForm):
    """The admin's add form: upload a file into a workspace through the same service as pages and API."""

    file = forms.FileField()
    title = forms.CharField(required=False, max_length=300)

    class Meta:
        model = Document
        fields = ["workspace"]


_VERSION_FIELDS = ("number", "original_filename", "kind", "size_bytes", "sha256", "created_at")


class VersionInline(admin.TabularInline):
    model = DocumentVersion
    fk_name = "document"
    extra = 0
    can_delete = False
    fields = (*_VERSION_FIELDS,)
    readonly_fields = (*_VERSION_FIELDS,)


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "workspace",
        "status",
        "progress",
        "chunk_count",
        "page_count",
        "short_error",
        "created_at",
    ]
    list_filter = ["status", "failed_stage", "created_at"]
    search_fields = ["title", "workspace__name", "versions__original_filename"]
    list_select_related = ["workspace"]
    readonly_fields = [
        "status",
        "error",
        "failed_stage",
        "progress_done",
        "progress_total",
        "attempts",
        "heartbeat_at",
        "enqueued_at",
        "current_version",
        "pending_version",
        "chunk_count",
        "page_count",
        "ready_at",
        "uploaded_by",
        "title_from_file",
        "source_path",
        "parent",
    ]
    inlines = [VersionInline]
    actions = ["reprocess", "retry_failed", "delete_with_files"]

    def get_form(
        self, request: HttpRequest, obj: Document | None = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Document]]:
        if obj is None:
            kwargs["form"] = DocumentUploadForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Document | None = None) -> list[str | list[str] | tuple[str, ...]]:
        if obj is None:
            return ["workspace", "file", "title"]
        return ["workspace", "title", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: Document | None = None) -> list[str]:
        """The workspace is fixed once the document exists: its versions, chunks and postings live there."""
        return [*self.readonly_fields, "workspace"] if obj is not None else list(self.readonly_fields)

    def get_inlines(self, request: HttpRequest, obj: Document | None) -> list[type[Any]]:
        return self.inlines if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Document, form: forms.ModelForm[Document], change: bool) -> None:
        if change:
            if "title" in form.changed_data:
                obj.title_from_file = False  # typed by staff: ingestion keeps it
            super().save_model(request, obj, form, change)
            return
        upload = form.cleaned_data["file"]
        workspace: Workspace = form.cleaned_data["workspace"]
        user = request.user if isinstance(request.user, User) else None
        result = document_upload(
            workspace=workspace, user=user, file=upload, filename=upload.name, title=form.cleaned_data["title"]
        )
        obj.pk = result.document.pk
        self.message_user(request, result.message, messages.SUCCESS if result.created else messages.INFO)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().add_view(request, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:documents_document_add"))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # ours also removes the stored files
        return actions

    @admin.display(description="progress")
    def progress(self, obj: Document) -> str:
        return f"{obj.progress_done}/{obj.progress_total}" if obj.progress_total else "–"

    @admin.display(description="error")
    def short_error(self, obj: Document) -> str:
        return (obj.error[:80] + "…") if len(obj.error) > 80 else obj.error

    @admin.action(description="Reprocess selected documents")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        done = 0
        for document in queryset:
            try:
                document_reprocess(document=document)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{document}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} document(s) queued.")

    @admin.action(description="Retry selected failed documents")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        total = 0
        for workspace_id in set(queryset.values_list("workspace_id", flat=True)):
            ids = list(queryset.filter(workspace_id=workspace_id).values_list("pk", flat=True))
            total += document_retry_failed(workspace_id=workspace_id, document_ids=ids)
        self.message_user(request, f"{total} failed document(s) queued again.")

    @admin.action(description="Delete selected documents (files, versions and chunks)")
    def delete_with_files(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        count = 0
        for document in queryset:
            document_delete(document=document)
            count += 1
        self.message_user(request, f"{count} document(s) deleted.")


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "ordinal", "page_start", "page_end", "token_count", "workspace"]
    list_filter = ["workspace"]
    search_fields = ["document__title", "text"]
    list_select_related = ["document", "workspace"]
    exclude = ["embedding", "search_vector"]

    def get_readonly_fields(self, request: HttpRequest, obj: Chunk | None = None) -> list[str]:
        return [f.name for f in Chunk._meta.fields if f.name not in ("embedding", "search_vector")]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Chunk | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Chunk | None = None) -> bool:
        return False


@admin.register(WorkspaceLimitOverride)
class WorkspaceLimitOverrideAdmin(admin.ModelAdmin):
    """Staff raise (or lower) one workspace's limits; an empty field keeps the setting's default."""

    list_display = ["workspace", *LIMIT_OVERRIDE_FIELDS, "updated_at"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name"]
    autocomplete_fields = ["workspace"]
    readonly_fields = ["effective_limits", "usage"]

    def get_fields(
        self, request: HttpRequest, obj: WorkspaceLimitOverride | None = None
    ) -> list[str | list[str] | tuple[str, ...]]:
        fields: list[str | list[str] | tuple[str, ...]] = ["workspace", *LIMIT_OVERRIDE_FIELDS]
        return [*fields, "effective_limits", "usage"] if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: WorkspaceLimitOverride | None = None) -> list[str]:
        """The workspace is fixed once the row exists (delete the row to return a workspace to the defaults)."""
        return [*self.readonly_fields, "workspace"] if obj is not None else list(self.readonly_fields)

    @admin.display(description="limits in force")
    def effective_limits(self, obj: WorkspaceLimitOverride) -> str:
        limits = workspace_limits(workspace_id=obj.workspace_id)
        return ", ".join(f"{name}={getattr(limits, name):,}" for name in LIMIT_OVERRIDE_FIELDS)

    @admin.display(description="usage")
    def usage(self, obj: WorkspaceLimitOverride) -> str:
        return " · ".join(line.text for line in workspace_usage_lines(workspace_id=obj.workspace_id))


def reembed_eta(job: ReembedJob) -> str:
    """ "12 min" left at the job's pace so far, or "–" before any progress."""
    if job.status != ReembedJob.Status.RUNNING or not job.started_at or not job.chunks_done:
        return "–"
    elapsed = (timezone.now() - job.started_at).total_seconds()
    left = elapsed / job.chunks_done * max(job.chunks_total - job.chunks_done, 0)
    return f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"


@admin.register(WorkspaceEmbedding)
class WorkspaceEmbeddingAdmin(admin.ModelAdmin):
    """Each workspace's embedding variant against the configured one, its re-embedding in progress, and the
    action that starts one (``documents.services.reembed``: search keeps the old vectors until the swap)."""

    list_display = ["name", "embedding_variant", "up_to_date", "reembedding"]
    search_fields = ["name"]
    actions = ["reembed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WorkspaceEmbedding | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: WorkspaceEmbedding | None = None) -> bool:
        return False

    @admin.display(description="configured variant's kind", boolean=True)
    def up_to_date(self, obj: WorkspaceEmbedding) -> bool:
        return not obj.embedding_variant or same_space(obj.embedding_variant, configured_variant())

    @admin.display(description="re-embedding")
    def reembedding(self, obj: WorkspaceEmbedding) -> str:
        job = ReembedJob.objects.filter(workspace_id=obj.pk, status__in=ReembedJob.UNFINISHED).first()
        if job is None:
            return "–"
        return f"{job.target_variant}: {job.chunks_done}/{job.chunks_total} chunks, ETA {reembed_eta(job)}"

    def has_reembed_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("documents.add_reembedjob")  # superusers, or staff given that permission

    @admin.action(description="Re-embed by the configured variant (in the background)", permissions=["reembed"])
    def reembed(self, request: HttpRequest, queryset: QuerySet[WorkspaceEmbedding]) -> None:
        started = 0
        for workspace in queryset:
            job = reembed_start(workspace_id=workspace.pk, requested_by=f"admin: {request.user}")
            if job is not None and reembed_enqueue(job):  # not one a run holds already
                started += 1
        self.message_user(request, f"{started} re-embedding job(s) queued; the others needed none or run already.")


@admin.register(ReembedJob)
class ReembedJobAdmin(admin.ModelAdmin):
    list_display = ["workspace", "source_variant", "target_variant", "status", "progress", "eta", "created_at"]
    list_filter = ["status", "target_variant"]
    list_select_related = ["workspace"]
    readonly_fields = [f.name for f in ReembedJob._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReembedJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReembedJob | None = None) -> bool:
        unfinished = obj is not None and obj.status in ReembedJob.UNFINISHED
        return not unfinished and super().has_delete_permission(request, obj)

    @admin.display(description="progress")
    def progress(self, obj: ReembedJob) -> str:
        return f"{obj.chunks_done}/{obj.chunks_total}"

    @admin.display(description="ETA")
    def eta(self, obj: ReembedJob) -> str:
        return reembed_eta(obj)
