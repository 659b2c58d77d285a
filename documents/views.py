"""Document pages: list with drag-and-drop upload and live status, detail with versions, text and chunks."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import Workspace
from accounts.permissions import membership_get
from accounts.selectors import SESSION_WORKSPACE_KEY, workspace_current_or_404
from config.errors import ApplicationError
from documents.limits import workspace_usage_lines
from documents.models import Document
from documents.selectors import (
    chunk_list,
    document_attachment_notes,
    document_attachments,
    document_get_for_user,
    document_list,
    document_status_counts,
    document_versions,
    version_ocr_summary,
)
from documents.services.lifecycle import (
    document_delete,
    document_reprocess,
    document_retry_failed,
    require_document_editor,
)
from documents.services.upload import (
    document_upload,
    document_version_upload,
    file_too_large_message,
    upload_rate_check,
)
from documents.uploads import REQUEST_TOO_LARGE_FLAG, TOO_LARGE_FLAG


def _list_context(request: AuthenticatedHttpRequest) -> dict[str, object]:
    workspace = workspace_current_or_404(request=request)
    status = request.GET.get("status") or None
    if status not in Document.Status.values:
        status = None
    documents = document_list(workspace=workspace, status=status, query=request.GET.get("q") or None)
    page = Paginator(documents, 50).get_page(request.GET.get("page"))
    return {
        "workspace": workspace,
        "page": page,
        "documents": page.object_list,
        "status": status,
        "statuses": Document.Status.choices,
        "counts": document_status_counts(workspace=workspace),
        "any_active": any(d.is_active for d in page.object_list),
        "max_upload_mb": f"{settings.MAX_UPLOAD_BYTES / 1_000_000:g}",
    }


@login_required
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    context = _list_context(request)
    workspace = context["workspace"]
    assert isinstance(workspace, Workspace)
    context["usage"] = " · ".join(line.text for line in workspace_usage_lines(workspace_id=workspace.pk))
    return render(request, "documents/index.html", context)


@login_required
def rows(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The table body alone, polled by htmx while documents are being ingested."""
    return render(request, "documents/_rows.html", _list_context(request))


@login_required
@require_POST
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Form fallback (no JavaScript): several files at once; the page's script uses the API instead."""
    workspace = workspace_current_or_404(request=request)
    files = request.FILES.getlist("file")
    if refused := getattr(request, REQUEST_TOO_LARGE_FLAG, None):  # documents.uploads: over the request's limits
        messages.error(request, str(refused))
        return redirect("documents:index")
    if getattr(request, TOO_LARGE_FLAG, False):
        messages.error(request, file_too_large_message())
    for upload in files:
        try:
            upload_rate_check(user=request.user)
            result = document_upload(workspace=workspace, user=request.user, file=upload, filename=upload.name or "")
        except ApplicationError as exc:
            messages.error(request, f"{upload.name}: {exc.message}")
        else:
            (messages.success if result.created else messages.info)(request, result.message)
    return redirect("documents:index")


@login_required
@require_POST
def retry_failed(request: AuthenticatedHttpRequest) -> HttpResponse:
    workspace = workspace_current_or_404(request=request)
    actor = membership_get(user=request.user, workspace_id=workspace.pk)
    count = document_retry_failed(workspace_id=workspace.pk, actor=actor)
    messages.success(request, f"{count} failed document(s) queued again.")
    return redirect("documents:index")


@login_required
def detail(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    document = document_get_for_user(user=request.user, document_id=document_id)
    request.session[SESSION_WORKSPACE_KEY] = document.workspace_id
    chunks = Paginator(chunk_list(document=document), 100).get_page(request.GET.get("page"))
    context = {
        "document": document,
        "versions": document_versions(document=document),
        "chunks": chunks,
        "text": document.current_version.extracted_text if document.current_version else "",
        "ocr": version_ocr_summary(version=document.current_version),
        "attachments": document_attachments(document=document),
        "attachment_notes": document_attachment_notes(document=document),
    }
    return render(request, "documents/detail.html", context)


@login_required
def status(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    document = document_get_for_user(user=request.user, document_id=document_id)
    return render(request, "documents/_status.html", {"document": document})


def _act(request: AuthenticatedHttpRequest, action: Callable[[], object], success: str) -> None:
    try:
        action()
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)


@login_required
@require_POST
def version_upload(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    document = document_get_for_user(user=request.user, document_id=document_id)
    upload = request.FILES.get("file")
    if refused := getattr(request, REQUEST_TOO_LARGE_FLAG, None):
        messages.error(request, str(refused))
    elif getattr(request, TOO_LARGE_FLAG, False):
        messages.error(request, file_too_large_message())
    elif upload is None:
        messages.error(request, "Choose a file for the new version.")
    else:
        membership = membership_get(user=request.user, workspace_id=document.workspace_id)

        def upload_version() -> None:
            require_document_editor(document=document, actor=membership)
            upload_rate_check(user=request.user)
            document_version_upload(document=document, user=request.user, file=upload, filename=upload.name or "")

        _act(
            request,
            upload_version,
            "New version uploaded; it replaces the current one when its ingestion is done.",
        )
    return redirect("documents:detail", document_id=document.pk)


@login_required
@require_POST
def reprocess(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    document = document_get_for_user(user=request.user, document_id=document_id)
    membership = membership_get(user=request.user, workspace_id=document.workspace_id)
    _act(request, lambda: document_reprocess(document=document, actor=membership), "Queued for ingestion again.")
    return redirect("documents:detail", document_id=document.pk)


@login_required
@require_POST
def delete(request: AuthenticatedHttpRequest, document_id: int) -> HttpResponse:
    document = document_get_for_user(user=request.user, document_id=document_id)
    membership = membership_get(user=request.user, workspace_id=document.workspace_id)
    try:
        document_delete(document=document, actor=membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("documents:detail", document_id=document.pk)
    messages.success(request, f"“{document.title}” was deleted.")
    return redirect("documents:index")
