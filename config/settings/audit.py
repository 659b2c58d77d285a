"""Audit trail and telemetry retention (part of ``config.settings.base``). See .env.example for every variable."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.settings.environment import env

# Audit events older than this many days are deleted by the purge task (accounts.tasks.audit_purge_task).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
# Request-level chat telemetry (per-answer timings, provider, fallback flags, token counts) older than this many
# days is cleared by chat.tasks.chat_telemetry_purge_task; the conversations and their messages stay.
CHAT_TELEMETRY_RETENTION_DAYS = env.int("CHAT_TELEMETRY_RETENTION_DAYS", default=30)
# How often both purges run (seconds).
RETENTION_PURGE_SECONDS = env.int("RETENTION_PURGE_SECONDS", default=6 * 3600)

for _name, _value in (
    ("AUDIT_RETENTION_DAYS", AUDIT_RETENTION_DAYS),
    ("CHAT_TELEMETRY_RETENTION_DAYS", CHAT_TELEMETRY_RETENTION_DAYS),
    ("RETENTION_PURGE_SECONDS", RETENTION_PURGE_SECONDS),
):
    if _value < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1")
