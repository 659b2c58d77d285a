"""Celery queues (config/settings/scale.py): ingestion on "ingest", upkeep on "maintenance", and the test
worker (config/worker_process.py, started as Procfile's worker) consumes both; so does a worker started without
``-Q``."""

from __future__ import annotations

import pytest

from config.celery import app
from documents.tests.ingestion import upload, wait_finished


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("documents.tasks.document_ingest_task", "ingest"),
        ("documents.tasks.document_sweep_task", "maintenance"),
        ("retrieval.tasks.vector_indexes_task", "maintenance"),
        ("some.future.purge_task", "maintenance"),  # unrouted tasks are upkeep, never a queue nobody consumes
    ],
)
def test_tasks_are_routed_to_their_queue(task_name, queue):
    assert _queue(task_name) == queue


def test_every_periodic_task_goes_to_maintenance(settings):
    assert {_queue(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()} == {"maintenance"}


@pytest.mark.django_db(transaction=True)
def test_the_worker_consumes_both_queues(celery_worker, settings):
    answer = app.control.inspect(destination=[celery_worker.name], timeout=5).active_queues()
    assert answer is not None
    assert sorted(q["name"] for q in answer[celery_worker.name]) == sorted(settings.CELERY_WORKER_QUEUES)
    assert sorted(settings.CELERY_WORKER_QUEUES) == ["ingest", "maintenance"]


@pytest.mark.django_db(transaction=True)
def test_a_worker_started_without_queues_ingests_documents(start_own_worker, alice, api_client_for):
    """A plain ``celery -A config worker`` (no ``-Q``) consumes every declared queue, "ingest" included, not
    only the default "maintenance"."""
    worker = start_own_worker({}, queues=[])
    answer = app.control.inspect(destination=[worker.name], timeout=5).active_queues()
    assert answer is not None
    assert sorted(q["name"] for q in answer[worker.name]) == ["ingest", "maintenance"]
    document = wait_finished(upload(api_client_for(alice), "notes.txt", b"Yeast ferments the dough."), worker=worker)
    assert document.status == "ready", document.error
