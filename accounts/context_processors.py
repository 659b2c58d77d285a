from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.selectors import workspace_current, workspace_list_for_user


def workspaces(request: HttpRequest) -> dict[str, object]:
    """``current_workspace`` and ``user_workspaces`` for the navigation's workspace switcher (lazy)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "current_workspace": SimpleLazyObject(lambda: workspace_current(request=request)),
        "user_workspaces": SimpleLazyObject(lambda: list(workspace_list_for_user(user=request.user))),
    }
