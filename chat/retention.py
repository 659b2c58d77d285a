"""Retention of request-level chat telemetry (``CHAT_TELEMETRY_RETENTION_DAYS``).

What counts as telemetry: an assistant message's per-request measurements (latency, first-token time, token
counts, the providers that failed and why) and the per-day usage counters (``UsageDay``). What stays: the
conversations, the messages' text, citations, feedback and which provider answered, which users keep reading.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from chat.models import Message, UsageDay

logger = logging.getLogger(__name__)


TELEMETRY_CLEARED: dict[str, object] = {
    "latency_ms": None,
    "first_token_ms": None,
    "prompt_tokens": 0,
    "completion_tokens": 0,
    "fallbacks": [],
}
_HAS_TELEMETRY = (
    Q(latency_ms__isnull=False)
    | Q(first_token_ms__isnull=False)
    | ~Q(prompt_tokens=0)
    | ~Q(completion_tokens=0)
    | ~Q(fallbacks=[])
)
BATCH_SIZE = 5000


def chat_telemetry_purge_expired(*, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Clear the telemetry of messages older than ``CHAT_TELEMETRY_RETENTION_DAYS`` and delete usage days older
    than that; returns ``{"messages": n, "usage_days": n}`` (rows changed). Messages already cleared are not
    touched again.

    Messages are cleared ``batch_size`` at a time in id order, one transaction (an UPDATE over an id range) per
    batch, so a first run on an old installation neither holds one long transaction nor rewrites every row at once.
    """
    cutoff = timezone.now() - timedelta(days=settings.CHAT_TELEMETRY_RETENTION_DAYS)
    expired = Message.objects.filter(_HAS_TELEMETRY, created_at__lt=cutoff, role=Message.Role.ASSISTANT)
    messages, last = 0, 0
    while ids := list(expired.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size]):
        messages += expired.filter(pk__gte=ids[0], pk__lte=ids[-1]).update(**TELEMETRY_CLEARED)
        last = ids[-1]
    usage_days, _ = UsageDay.objects.filter(day__lt=cutoff.date()).delete()
    if messages or usage_days:
        logger.info("cleared telemetry of %d messages, deleted %d usage days before %s", messages, usage_days, cutoff)
    return {"messages": messages, "usage_days": usage_days}
