"""Daily quotas on questions and LLM tokens, per user (counted across all their workspaces) and per workspace
(UTC days).

Limits come from settings (``CHAT_QUESTIONS_PER_DAY_USER`` …) unless a ``QuotaOverride`` for the user or the
workspace says otherwise. Exceeding one answers 429 with ``Retry-After`` (seconds until the next UTC day).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Sum

from accounts.models import User, Workspace
from chat.models import QuotaOverride, UsageDay
from config.clock import seconds_until_next_utc_day, utc_now
from config.errors import TooManyRequestsError

logger = logging.getLogger(__name__)


def limits_for(*, user: User, workspace: Workspace) -> dict[str, int]:
    """``{"user_questions", "user_tokens", "workspace_questions", "workspace_tokens"}`` per day."""
    user_override = QuotaOverride.objects.filter(user=user).first()
    ws_override = QuotaOverride.objects.filter(workspace=workspace).first()

    def pick(override: QuotaOverride | None, field: str, default: int) -> int:
        value = getattr(override, field, None) if override else None
        return default if value is None else value

    return {
        "user_questions": pick(user_override, "questions_per_day", settings.CHAT_QUESTIONS_PER_DAY_USER),
        "user_tokens": pick(user_override, "tokens_per_day", settings.CHAT_TOKENS_PER_DAY_USER),
        "workspace_questions": pick(ws_override, "questions_per_day", settings.CHAT_QUESTIONS_PER_DAY_WORKSPACE),
        "workspace_tokens": pick(ws_override, "tokens_per_day", settings.CHAT_TOKENS_PER_DAY_WORKSPACE),
    }


def usage_today(*, user: User, workspace: Workspace) -> dict[str, int]:
    """Questions and tokens used today by the user, across all their workspaces (a new workspace is no fresh
    quota), and by the whole workspace."""
    day = utc_now().date()
    mine = UsageDay.objects.filter(user=user, day=day).aggregate(q=Sum("questions"), t=Sum("tokens"))
    everyone = UsageDay.objects.filter(workspace=workspace, day=day).aggregate(q=Sum("questions"), t=Sum("tokens"))
    return {
        "user_questions": mine["q"] or 0,
        "user_tokens": mine["t"] or 0,
        "workspace_questions": everyone["q"] or 0,
        "workspace_tokens": everyone["t"] or 0,
    }


def quota_check(*, user: User, workspace: Workspace) -> None:
    """Raise TooManyRequestsError (429, ``Retry-After``) if a daily limit is reached."""
    limits, used = limits_for(user=user, workspace=workspace), usage_today(user=user, workspace=workspace)
    labels = {
        "user_questions": "your daily question limit",
        "user_tokens": "your daily LLM token limit",
        "workspace_questions": "this workspace's daily question limit",
        "workspace_tokens": "this workspace's daily LLM token limit",
    }
    for key, label in labels.items():
        if used[key] >= limits[key]:
            retry = seconds_until_next_utc_day()
            logger.warning(
                "chat quota %s reached: user %s, workspace %s (%d of %d)",
                key,
                user.pk,
                workspace.pk,
                used[key],
                limits[key],
            )
            raise TooManyRequestsError(
                f"You have reached {label} ({limits[key]:,}). It resets at midnight UTC.",
                headers={"Retry-After": str(retry)},
            )


def usage_record(*, user: User, workspace: Workspace, questions: int = 0, tokens: int = 0) -> None:
    """Add to today's counters (atomic increments; safe across processes)."""
    day = utc_now().date()
    UsageDay.objects.get_or_create(workspace=workspace, user=user, day=day)
    UsageDay.objects.filter(workspace=workspace, user=user, day=day).update(
        questions=F("questions") + questions, tokens=F("tokens") + tokens
    )


def usage_summary(*, workspace: Workspace, days: int = 7) -> list[UsageDay]:
    """The workspace's usage rows of the last ``days`` days, newest first (for owners)."""
    since = utc_now().date() - timedelta(days=days - 1)
    return list(
        UsageDay.objects.filter(workspace=workspace, day__gte=since)
        .select_related("user")
        .order_by("-day", "user__email")
    )
