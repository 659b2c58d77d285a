"""Periodic accounts tasks (Celery beat): thin shells over services."""

from __future__ import annotations

from celery import shared_task


@shared_task
def audit_purge_task() -> int:
    """Delete expired audit events (``AUDIT_RETENTION_DAYS``); returns how many."""
    from accounts.services.audit import audit_purge_expired

    return audit_purge_expired()
