"""End to end through a real Celery worker on the real broker and database."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F
from django.db.models.functions import Now
from rest_framework.test import APIClient

from config.testing import wait_until
from documents.embeddings import DIMENSIONS
from documents.models import Chunk, Document
from documents.services.sweep import document_sweep
from documents.tests import samples

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path_factory):
    # The worker process reads files from the same MEDIA_ROOT (test settings), so keep the default.
    return settings.MEDIA_ROOT


def _upload(client: APIClient, name: str, data: bytes) -> int:
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile(name, data)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _wait(document_id: int, statuses: tuple[str, ...] = ("ready", "failed"), timeout: float = 90) -> Document:
    """The document once its status is one of ``statuses``."""
    wait_until(
        lambda: Document.objects.filter(pk=document_id, status__in=statuses).exists(),
        timeout=timeout,
        failure=lambda: f"document {document_id} still {Document.objects.get(pk=document_id).status}",
    )
    return Document.objects.get(pk=document_id)


def test_every_format_reaches_ready_with_pages_and_headings(alice, tmp_path, api_client_for):
    pdf = samples.make_pdf(
        tmp_path,
        [f"Page {i} says: " + samples.REAL_TEXT for i in range(1, 4)],
        outline=[("Opening", 1), ("Closing", 3)],
    )
    docx = samples.make_docx(tmp_path, [("Title", "Handbook"), ("Heading 1", "Safety"), ("Normal", samples.REAL_TEXT)])
    files = {
        "speech.pdf": pdf.read_bytes(),
        "handbook.docx": docx.read_bytes(),
        "page.html": (
            "<!doctype html><html><head><title>T</title></head><body><nav><a href='/'>Home</a> "
            "<a href='/x'>Subscribe to our newsletter</a></nav><main><article><h1>Dedication</h1>"
            f"<p>{samples.REAL_TEXT}</p></article></main><footer>Cookie settings</footer></body></html>"
        ).encode(),
        "notes.md": f"# Notes\n\n## Battle\n\n{samples.REAL_TEXT}\n".encode(),
        "plain.txt": samples.REAL_TEXT.encode("utf-16"),
        "table.csv": b"state,capital\nPennsylvania,Harrisburg\nOhio,Columbus\nTexas,Austin\n",
    }
    client = api_client_for(alice)
    ids = {name: _upload(client, name, data) for name, data in files.items()}
    for name, document_id in ids.items():
        document = _wait(document_id)
        assert document.status == "ready", (name, document.error)
        assert document.chunk_count == Chunk.objects.filter(document=document).count() > 0

    pdf_chunks = Chunk.objects.filter(document_id=ids["speech.pdf"]).order_by("ordinal")
    assert Document.objects.get(pk=ids["speech.pdf"]).page_count == 3
    assert pdf_chunks[0].page_start == 1 and list(pdf_chunks)[-1].page_end == 3
    assert any(c.heading_path == ["Closing"] for c in pdf_chunks)
    assert "Page 3 says" in next(c.text for c in pdf_chunks if c.page_end == 3)

    docx_chunk = Chunk.objects.filter(document_id=ids["handbook.docx"]).latest("ordinal")
    assert docx_chunk.heading_path[-1] == "Safety"
    html_text = " ".join(Chunk.objects.filter(document_id=ids["page.html"]).values_list("text", flat=True))
    assert "Subscribe to our newsletter" not in html_text and "Cookie settings" not in html_text
    md_chunk = Chunk.objects.filter(document_id=ids["notes.md"]).latest("ordinal")
    assert md_chunk.heading_path == ["Notes", "Battle"]
    assert "Four score" in Chunk.objects.filter(document_id=ids["plain.txt"])[0].text
    assert "capital: Harrisburg" in Chunk.objects.filter(document_id=ids["table.csv"])[0].text

    chunk = pdf_chunks[0]
    version_text = chunk.version.extracted_text
    assert version_text[chunk.char_start : chunk.char_end] == chunk.text
    assert len(chunk.embedding) == DIMENSIONS
    assert chunk.search_vector  # full-text column filled in the same transaction


def test_scanned_pdf_fails_with_a_reason(alice, tmp_path, api_client_for):
    client = api_client_for(alice)
    document = _wait(_upload(client, "scan.pdf", samples.make_scanned_pdf(tmp_path).read_bytes()))
    assert document.status == "failed"
    assert document.failed_stage == "extracting"
    assert "scanned pdf" in document.error.lower()  # nothing even by OCR, or OCR off here: the reason says which
    # The failure did not stop the worker: the next document still flows.
    assert _wait(_upload(client, "ok.txt", b"Still working after a failure.")).status == "ready"


def test_reprocess_and_new_version_replace_chunks_atomically(alice, api_client_for):
    client = api_client_for(alice)
    document_id = _upload(client, "v.md", f"# One\n\n{samples.REAL_TEXT}".encode())
    first = _wait(document_id)
    assert first.title == "One"  # the file's own title (its first heading) replaced the file name's
    n = first.chunk_count
    assert client.post(f"/api/v1/documents/{document_id}/reprocess/").status_code == 202
    again = _wait(document_id, timeout=60)
    assert again.status == "ready" and Chunk.objects.filter(document_id=document_id).count() == n

    response = client.post(
        f"/api/v1/documents/{document_id}/versions/",
        {"file": SimpleUploadedFile("v2.md", b"# Two\n\nA completely new second version about harbors and ships.")},
        format="multipart",
    )
    assert response.status_code == 202
    document = _wait(document_id)
    chunks = Chunk.objects.filter(document_id=document_id)
    assert document.status == "ready" and document.current_version is not None
    assert document.current_version.number == 2
    assert {c.version.number for c in chunks} == {2}
    assert "harbors" in chunks[0].text and document.title == "One"  # the title survives new versions


def test_killing_the_worker_mid_document_ends_ready_with_one_set_of_chunks(
    alice, tmp_path, celery_worker, settings, api_client_for
):
    pages = [f"Section {i}. " + samples.REAL_TEXT * 2 for i in range(120)]
    document_id = _upload(api_client_for(alice), "long.pdf", samples.make_pdf(tmp_path, pages).read_bytes())
    embedding = Document.objects.filter(
        pk=document_id, status="embedding", progress_done__gt=0, progress_done__lt=F("progress_total")
    )
    wait_until(embedding.exists, timeout=90, failure=lambda: "never saw the document mid-embedding")
    celery_worker.kill()
    settings.INGEST_STALE_SECONDS = 1
    stale = Document.objects.filter(pk=document_id, heartbeat_at__lt=Now() - timedelta(seconds=1))
    wait_until(stale.exists, timeout=10, failure=lambda: "the dead worker's heartbeat never went stale")
    assert document_sweep() == {"requeued": 1, "enqueued": 1, "failed": 0}  # back in the queue
    celery_worker.start()
    document = _wait(document_id, timeout=120)
    assert document.status == "ready", document.error
    ordinals = list(Chunk.objects.filter(document_id=document_id).values_list("ordinal", flat=True))
    assert len(ordinals) == len(set(ordinals)) == document.chunk_count
    assert document.attempts == 2


def test_a_dead_broker_at_upload_time_loses_nothing(alice, settings, api_client_for):
    """Stop the real (embedded) Redis, upload, start Redis again: the sweeper enqueues the document."""
    from config import embedded

    if not embedded.status(settings.DATA_DIR)["redis"]["running"]:
        pytest.skip("needs the embedded Redis (REDIS_URL points elsewhere)")
    if settings.TEST_SLOT:
        pytest.skip("stops the Redis every test slot shares: runs in slot 0 only (as make test and CI do)")
    embedded.redis_stop(settings.DATA_DIR)
    try:
        document_id = _upload(api_client_for(alice), "while-down.txt", b"Uploaded while the broker was unreachable.")
        document = Document.objects.get(pk=document_id)
        assert document.status == "queued" and document.enqueued_at is None
    finally:
        embedded.redis_url(settings.DATA_DIR)
    assert document_sweep()["enqueued"] == 1
    assert _wait(document_id, timeout=120).status == "ready"
