"""Retention of request-level chat telemetry (``CHAT_TELEMETRY_RETENTION_DAYS``).

What counts as telemetry: an assistant message's per-request measurements (latency, first-token time, token
counts, the providers that failed and why) and the per-day usage counters (``UsageDay``). What stays: the
conversations, the messages' text, citations, feedback and which provider answered, which users keep reading.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.models import Message, UsageDay

logger = logging.getLogger(__name__)


@transaction.atomic
def chat_telemetry_purge_expired() -> dict[str, int]:
    """Clear the telemetry of messages older than ``CHAT_TELEMETRY_RETENTION_DAYS`` and delete usage days older
    than that; returns ``{"messages": n, "usage_days": n}`` (rows changed). Messages already cleared are not
    touched again."""
    cutoff = timezone.now() - timedelta(days=settings.CHAT_TELEMETRY_RETENTION_DAYS)
    expired = Message.objects.filter(created_at__lt=cutoff, role=Message.Role.ASSISTANT)
    with_telemetry = (
        expired.exclude(latency_ms=None)
        | expired.exclude(first_token_ms=None)
        | expired.exclude(prompt_tokens=0)
        | expired.exclude(completion_tokens=0)
        | expired.exclude(fallbacks=[])
    )
    messages = with_telemetry.update(
        latency_ms=None, first_token_ms=None, prompt_tokens=0, completion_tokens=0, fallbacks=[]
    )
    usage_days, _ = UsageDay.objects.filter(day__lt=cutoff.date()).delete()
    if messages or usage_days:
        logger.info("cleared telemetry of %d messages, deleted %d usage days before %s", messages, usage_days, cutoff)
    return {"messages": messages, "usage_days": usage_days}
