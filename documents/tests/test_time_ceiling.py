"""The time ceiling per task (``CELERY_TASK_SOFT_TIME_LIMIT``, issue 13 finding 7): in a real worker, through the
upload API, a document whose ingestion outlasts the soft limit ends ``failed`` with the reason the task gives
(``documents.tasks``), and the same pool process goes on to ingest the next document.
"""

from __future__ import annotations

import pytest

from documents.models import Document
from documents.tests import samples
from documents.tests.ingestion import upload, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

SOFT_LIMIT_S = 5  # a small document takes well under a second; the long one below needs far more
HARD_LIMIT_S = 30  # only if the soft stop were not handled: the process would be killed, the document retried
TOO_LONG = "Ingestion took too long and was stopped."


@pytest.fixture
def short_limit_worker(start_own_worker):
    """A worker of this module's own whose tasks stop after SOFT_LIMIT_S (the session worker is stopped meanwhile).

    Only the worker has the short limits: the uploading process (this one) keeps the defaults, and the worker's
    own settings must decide (Celery would otherwise stamp the sender's limits into each message)."""
    return start_own_worker(
        {
            "INGEST_STALE_SECONDS": "3",
            "CELERY_TASK_SOFT_TIME_LIMIT": str(SOFT_LIMIT_S),
            "CELERY_TASK_TIME_LIMIT": str(HARD_LIMIT_S),
        }
    )


def _long_text(paragraphs: int = 1500) -> bytes:
    """~2.2 MB of plain text: 3,000 chunks to embed, about a minute of work for one pool process on this machine
    (2 cores), 12 times the soft limit."""
    return "\n\n".join(f"Paragraph {i}. {samples.REAL_TEXT}" for i in range(paragraphs)).encode()


def _pool_pids(worker) -> list[int]:
    """The process ids of the worker's pool, as the worker reports them (``celery inspect stats``)."""
    from config.celery import app

    stats = app.control.inspect(destination=[worker.name], timeout=5).stats() or {}
    assert worker.name in stats, f"the worker did not answer:\n{worker.log.read_text()[-3000:]}"
    return stats[worker.name]["pool"]["processes"]


def test_a_document_over_the_time_ceiling_fails_with_the_reason_and_the_worker_goes_on(
    short_limit_worker, alice, api_client_for
):
    worker = short_limit_worker
    client = api_client_for(alice)
    pool = _pool_pids(worker)

    slow = wait_finished(upload(client, "long.txt", _long_text()), worker=worker)
    assert (slow.status, slow.error) == ("failed", TOO_LONG), worker.log.read_text()[-3000:]
    assert slow.failed_stage in ("chunking", "embedding")  # stopped mid-work (on a busy machine, maybe earlier)
    assert f"Soft time limit ({SOFT_LIMIT_S}s) exceeded" in worker.log.read_text()
    assert not slow.chunks.exists()

    normal = wait_finished(upload(client, "notes.md", f"# Notes\n\n{samples.REAL_TEXT}\n".encode()), worker=worker)
    assert normal.status == "ready", normal.error
    assert normal.chunks.exists()
    assert _pool_pids(worker) == pool  # the same pool process took both: the soft stop did not cost it
    assert "Hard time limit" not in worker.log.read_text()
    assert Document.objects.get(pk=slow.pk).status == "failed"  # no ticket brought it back
