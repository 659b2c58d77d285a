"""Template context for every page (reads only: ``accounts.selectors``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import User
from accounts.selectors import workspace_current, workspace_list_for_user


def workspaces(request: HttpRequest) -> dict[str, object]:
    """``current_workspace`` and ``user_workspaces`` for the navigation's workspace switcher (lazy)."""
    user = getattr(request, "user", None)
    if not isinstance(user, User):
        return {}
    return {
        "current_workspace": SimpleLazyObject(lambda: workspace_current(request=request)),
        "user_workspaces": SimpleLazyObject(lambda: list(workspace_list_for_user(user=user))),
    }
