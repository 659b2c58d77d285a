"""UTC days: the daily limits (chat quotas, workspace invitations) count per UTC day and answer 429 with
``Retry-After`` set to the seconds until the next one."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def seconds_until_next_utc_day(now: datetime | None = None) -> int:
    """Whole seconds from ``now`` (default: the current time; any timezone-aware datetime) to the next midnight UTC,
    at least 1 (a ``Retry-After`` value)."""
    now = (now or utc_now()).astimezone(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=UTC)
    return max(1, int((tomorrow - now).total_seconds()))
