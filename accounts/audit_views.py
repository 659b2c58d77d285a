"""The Audit page of a workspace (owners and admins): its events, filtered and paginated, and a CSV export."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from accounts.forms import AuditFilterForm
from accounts.http import AuthenticatedHttpRequest
from accounts.models import AuditEvent, Membership
from accounts.permissions import membership_get, require_manager
from accounts.selectors import audit_event_list
from config.errors import ForbiddenError

PAGE_SIZE = 50
CSV_COLUMNS = ["time", "event", "actor_id", "actor_email", "target_type", "target_id", "target", "ip", "user_agent"]
CSV_COLUMNS += ["request_id"]


def _manager_of(request: AuthenticatedHttpRequest, workspace_id: int) -> Membership:
    """The reader's membership: 404 for outsiders (``membership_get``), 403 for plain members (``require_manager``)."""
    membership = membership_get(user=request.user, workspace_id=workspace_id)
    try:
        require_manager(membership)
    except ForbiddenError as exc:
        raise PermissionDenied(exc.message) from exc
    return membership


def _filtered(request: AuthenticatedHttpRequest, workspace_id: int) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
    form = AuditFilterForm(request.GET or None)
    filters: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    return form, audit_event_list(workspace_id=workspace_id, **{k: v for k, v in filters.items() if v})


@login_required
def audit(request: AuthenticatedHttpRequest, workspace_id: int) -> HttpResponse:
    membership = _manager_of(request, workspace_id)
    form, events = _filtered(request, membership.workspace_id)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
        "page": Paginator(events, PAGE_SIZE).get_page(request.GET.get("page")),
        "query": query.urlencode(),
    }
    return render(request, "accounts/audit.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection: a leading ``'``)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in events.iterator(chunk_size=1000):
        row = [e.created_at.isoformat(), e.event, e.actor_id, e.actor_email, e.target_type, e.target_id]
        row += [e.target_label, e.ip, e.user_agent, e.request_id]
        yield writer.writerow([_cell(value) for value in row])


@login_required
def audit_export(request: AuthenticatedHttpRequest, workspace_id: int) -> StreamingHttpResponse:
    membership = _manager_of(request, workspace_id)
    _, events = _filtered(request, membership.workspace_id)
    response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-workspace-{membership.workspace_id}.csv"'
    return response
