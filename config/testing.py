"""Helpers for tests that wait on another process (a Celery worker, a server): poll a condition, never sleep
for a fixed time as synchronisation."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(condition: Callable[[], object], *, timeout: float, failure: Callable[[], str]) -> None:
    """Return as soon as ``condition()`` is truthy (checked every 50 ms); fail the test with ``failure()``
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(0.05)  # the polling interval: the condition decides, not the clock
