"""Chat pages: conversation list and composer (answers stream from the API), citation in context, usage."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.permissions import membership_get, require_manager
from accounts.selectors import workspace_current_or_404
from chat.quotas import limits_for, usage_summary, usage_today
from chat.selectors import citation_get_for_user, conversation_get, conversation_list, message_list
from chat.serializers import turn_output
from chat.services import conversation_create, conversation_delete, conversation_rename
from config.errors import ApplicationError
from documents.limits import workspace_limits, workspace_usage_lines
from documents.models import Document
from documents.selectors import document_list


def _page(request: AuthenticatedHttpRequest, conversation_id: int | None) -> HttpResponse:
    workspace = workspace_current_or_404(request=request)
    conversation = conversation_get(user=request.user, conversation_id=conversation_id) if conversation_id else None
    if conversation is not None and conversation.workspace_id != workspace.pk:
        workspace = conversation.workspace
    turns = [turn_output(m) for m in message_list(conversation=conversation)] if conversation else []
    return render(
        request,
        "chat/index.html",
        {
            "workspace": workspace,
            "conversation": conversation,
            "turns": turns,
            "documents": document_list(workspace=workspace, status=Document.Status.READY)[:200],
            "scope": list(conversation.documents.all()) if conversation else [],
            "conversations": conversation_list(user=request.user, workspace=workspace)[:100],
        },
    )


@login_required
def index(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _page(request, None)


@login_required
def detail(request: AuthenticatedHttpRequest, conversation_id: int) -> HttpResponse:
    return _page(request, conversation_id)


@login_required
@require_POST
def create(request: AuthenticatedHttpRequest) -> HttpResponse:
    workspace = workspace_current_or_404(request=request)
    ids = [int(value) for value in request.POST.getlist("document_ids") if value.isdigit()]
    try:
        conversation = conversation_create(user=request.user, workspace=workspace, document_ids=ids or None)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("chat:index")
    return redirect("chat:detail", conversation_id=conversation.pk)


@login_required
@require_POST
def rename(request: AuthenticatedHttpRequest, conversation_id: int) -> HttpResponse:
    conversation = conversation_get(user=request.user, conversation_id=conversation_id)
    conversation_rename(conversation=conversation, title=request.POST.get("title", ""))
    return redirect("chat:detail", conversation_id=conversation.pk)


@login_required
@require_POST
def delete(request: AuthenticatedHttpRequest, conversation_id: int) -> HttpResponse:
    conversation_delete(conversation=conversation_get(user=request.user, conversation_id=conversation_id))
    messages.success(request, "The conversation was deleted.")
    return redirect("chat:index")


@login_required
def citation(request: AuthenticatedHttpRequest, citation_id: int) -> HttpResponse:
    """The cited passage highlighted inside its document version's extracted text, with its page."""
    cited = citation_get_for_user(user=request.user, citation_id=citation_id)
    text = cited.version.extracted_text if cited.version else ""
    if not (text and text[cited.char_start : cited.char_end] == cited.quote):  # the version is gone: the snapshot
        text, offset = cited.quote, cited.char_start
    else:
        offset = 0
    start, end = cited.char_start - offset, cited.char_end - offset
    p_start = (cited.passage_start if cited.passage_start is not None else cited.char_start) - offset
    p_end = (cited.passage_end if cited.passage_end is not None else cited.char_end) - offset
    before, after = text[:start], text[end:]
    return render(
        request,
        "chat/citation.html",
        {
            "citation": cited,
            "before": before[-6000:],
            "chunk_before": text[start:p_start],
            "passage": text[p_start:p_end],
            "chunk_after": text[p_end:end],
            "after": after[:6000],
            "truncated_before": len(before) > 6000,
            "truncated_after": len(after) > 6000,
            "document_exists": cited.document_id is not None,
        },
    )


@login_required
def usage(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Questions and tokens per member and day, and the workspace's documents, stored bytes and chunks against
    its limits (``documents.limits``), for the workspace's owners and admins."""
    workspace = workspace_current_or_404(request=request)
    try:
        require_manager(membership_get(user=request.user, workspace_id=workspace.pk))
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("chat:index")
    return render(
        request,
        "chat/usage.html",
        {
            "workspace": workspace,
            "rows": usage_summary(workspace=workspace),
            "today": usage_today(user=request.user, workspace=workspace),
            "limits": limits_for(user=request.user, workspace=workspace),
            "storage": workspace_usage_lines(workspace_id=workspace.pk),
            "document_limits": workspace_limits(workspace_id=workspace.pk),
        },
    )
