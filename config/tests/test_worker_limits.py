"""The limits a running Celery worker applies to every tenant's tasks (issue 13, finding 7), read from the worker
the tests start, not from this process's settings."""

from __future__ import annotations

import pytest

from config.testing import wait_until


@pytest.mark.django_db(transaction=True)
def test_the_worker_runs_with_time_and_memory_ceilings(celery_worker, settings):
    from config.celery import app

    name = celery_worker.name
    replies: dict = {}

    def answered() -> bool:
        try:
            replies.update(app.control.inspect(destination=[name], timeout=5).conf() or {})
        except Exception as exc:  # a pooled broker connection from before another test restarted Redis
            replies["error"] = str(exc)
        return name in replies

    # a worker busy with another test's ingestion may answer late
    wait_until(answered, timeout=60, failure=lambda: f"{name} did not answer: {replies}")
    conf = replies[name]  # the worker's own configuration (Django-namespaced keys, secrets censored by Celery)
    assert conf["CELERY_WORKER_MAX_MEMORY_PER_CHILD"] == settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD > 0
    assert 0 < conf["CELERY_TASK_SOFT_TIME_LIMIT"] < conf["CELERY_TASK_TIME_LIMIT"]
    assert conf["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1  # a worker holds one task at a time: no hoarding
