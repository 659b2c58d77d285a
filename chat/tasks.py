"""Periodic chat tasks (Celery beat): thin shells over services."""

from __future__ import annotations

from celery import shared_task


@shared_task
def chat_telemetry_purge_task() -> dict[str, int]:
    """Clear expired chat telemetry (``CHAT_TELEMETRY_RETENTION_DAYS``); returns the counts."""
    from chat.retention import chat_telemetry_purge_expired

    return chat_telemetry_purge_expired()
