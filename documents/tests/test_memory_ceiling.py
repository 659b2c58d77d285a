"""The memory ceiling per task (``INGEST_TASK_MAX_MEMORY_MB``, ``config.memory``): in a real worker, through
the upload API, a document that makes its pool process grow past it ends ``failed`` with the memory reason, the
process is replaced, and the worker goes on ingesting; in this process, the task's two ways of failing the
document (the soft stop's exception, the hard stop's hook). config/tests/test_memory.py drives the watchdog
itself and the replacement after a soft stop in a real billiard pool.
"""

from __future__ import annotations

import re
import sys
import threading
import zlib

import pytest
from django.utils import timezone

from config.memory import MemoryCeilingExceeded
from config.testing import wait_until
from documents.memory import document_memory_hard_stop, memory_failure_message
from documents.models import Document
from documents.tasks import document_ingest_task
from documents.tests import samples
from documents.tests.factories import DocumentVersionFactory
from documents.tests.hostile_files import raw_pdf
from documents.tests.ingestion import upload, wait_finished

pytestmark = pytest.mark.django_db(transaction=True)

CEILING_MB = 1500  # ~2.5x a pool process at rest with the model loaded; the PDF below needs several GB


def _log_match(worker, pattern: re.Pattern[str], after: int = 0) -> re.Match[str] | None:
    return pattern.search(worker.log.read_text(), after)


@pytest.fixture
def low_ceiling_worker(start_own_worker):
    """A worker of this module's own with a ceiling of CEILING_MB (the session worker is stopped meanwhile)."""
    return start_own_worker({"INGEST_STALE_SECONDS": "3", "INGEST_TASK_MAX_MEMORY_MB": str(CEILING_MB)})


def _pdf_flate_bomb(megabytes: int) -> bytes:
    """A one-page PDF of ~1 KB per MB whose content stream inflates to ``megabytes`` MB of blanks: pdfium
    inflates it in one call (ctypes, GIL released) when the page's text is read, to ~2x that resident."""
    deflate = zlib.compressobj(9)
    blanks = b" " * (1 << 20)
    stream = deflate.compress(b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET\n")
    stream += b"".join(deflate.compress(blanks) for _ in range(megabytes)) + deflate.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return raw_pdf(objects)


def test_a_document_over_the_memory_ceiling_fails_with_the_reason_and_the_worker_goes_on(
    low_ceiling_worker, alice, api_client_for
):
    """pdfium inflating a 1 MB PDF to gigabytes, in one C call with the GIL released: the exception cannot
    reach it, so the watchdog fails the document itself and kills the process, which billiard replaces."""
    worker, limit = low_ceiling_worker, CEILING_MB
    client = api_client_for(alice)
    bomb = wait_finished(upload(client, "bomb.pdf", _pdf_flate_bomb(2000)), worker=worker)
    assert (bomb.status, bomb.error) == ("failed", memory_failure_message(limit_mb=limit))
    killed = _log_match(worker, re.compile(r"went over the memory ceiling .* killing pool process (\d+)", re.S))
    assert killed is not None, worker.log.read_text()[-3000:]
    replaced = re.compile(rf"pool process (?!{killed.group(1)}\b)\d+: memory ceiling")
    wait_until(
        lambda: _log_match(worker, replaced, killed.end()),
        timeout=120,
        failure=lambda: "the pool process was not replaced:\n" + worker.log.read_text()[-3000:],
    )

    normal = wait_finished(upload(client, "notes.md", f"# Notes\n\n{samples.REAL_TEXT}\n".encode()), worker=worker)
    assert normal.status == "ready", normal.error
    assert Document.objects.get(pk=bomb.pk).status == "failed"  # its redelivered ticket changed nothing
    assert "Timed out waiting for UP" not in worker.log.read_text()  # the new process was given time to start


def _queued_document() -> Document:
    version = DocumentVersionFactory.create()
    Document.objects.filter(pk=version.document_id).update(pending_version=version)
    return Document.objects.get(pk=version.document_id)


def test_the_ingestion_task_fails_its_document_when_stopped_for_memory(monkeypatch):
    """The soft stop: the exception raised wherever the pipeline is reaches the task, which fails the
    document it was ingesting with the reason. (The pipeline is replaced by the exception it would raise.)"""
    document = _queued_document()

    def over_the_ceiling(*, document_id: int, **kwargs: object) -> str:
        raise MemoryCeilingExceeded(1500, 1612)

    monkeypatch.setattr("documents.services.ingest.document_ingest", over_the_ceiling)
    assert document_ingest_task.run(document.pk) == "failed"
    document.refresh_from_db()
    assert (document.status, document.error) == ("failed", memory_failure_message(limit_mb=1500))


def _hard_stop_now() -> None:
    """Run the hard-stop hook from another thread, as the watchdog does, with the caller's frame."""
    watchdog = threading.Thread(target=document_memory_hard_stop, args=(sys._getframe(1), 1500))
    watchdog.start()
    watchdog.join()


def test_the_hard_stop_fails_the_document_the_process_ingests(monkeypatch):
    """The hard stop: the watchdog thread runs the hook while the pipeline is stuck in C code (here, the stand-in
    for the pipeline); the hook fails the document this process claimed."""
    document = _queued_document()
    seen: list[tuple[str, str]] = []

    def stuck_in_c_code(*args: object) -> tuple[int, dict[str, float]]:
        _hard_stop_now()
        seen.append(Document.objects.values_list("status", "error").get(pk=document.pk))
        raise MemoryCeilingExceeded(1500, 1900)  # the soft stop, once the C call returns (if not killed before)

    monkeypatch.setattr("documents.services.ingest._pipeline", stuck_in_c_code)
    assert document_ingest_task.run(document.pk) == "failed"
    assert seen == [("failed", memory_failure_message(limit_mb=1500))]


def test_the_hard_stop_between_documents_fails_no_document(monkeypatch):
    """A ticket names a document another worker is ingesting; the hard stop comes while the ticket looks for a
    document it can claim: nothing is failed (the ticket's document is not this process's to fail)."""
    theirs = _queued_document()
    Document.objects.filter(pk=theirs.pk).update(status=Document.Status.EMBEDDING, heartbeat_at=timezone.now())

    def candidates_while_stopped(**kwargs: object) -> list[int]:
        _hard_stop_now()
        return []

    monkeypatch.setattr("documents.services.scheduling.fair_candidates", candidates_while_stopped)
    assert document_ingest_task.run(theirs.pk) == "skipped"
    assert Document.objects.values_list("status", "error").get(pk=theirs.pk) == ("embedding", "")
