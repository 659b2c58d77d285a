"""UTC days for the daily limits' Retry-After (config.clock), one helper for chat quotas and invitations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from config.clock import seconds_until_next_utc_day


def test_the_seconds_until_the_next_utc_midnight_whatever_the_time_zone_of_now():
    assert seconds_until_next_utc_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == 1800
    assert seconds_until_next_utc_day(datetime(2026, 3, 1, 0, 0, tzinfo=UTC)) == 86400
    assert seconds_until_next_utc_day(datetime(2026, 3, 1, 23, 59, 59, 900_000, tzinfo=UTC)) == 1  # never 0
    # 01:00 at UTC+2 is 23:00 UTC of the day before: one hour left, not 23
    assert seconds_until_next_utc_day(datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=2)))) == 3600
    assert 1 <= seconds_until_next_utc_day() <= 86400
