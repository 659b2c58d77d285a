from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.selectors import workspace_current


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The current workspace's documents (ingestion is not built yet: an honest empty state)."""
    return render(request, "documents/index.html", {"workspace": workspace_current(request=request)})
