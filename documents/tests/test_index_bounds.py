"""Index amplification (issue 13, finding 2): headings are bounded in length and depth, a chunk's context
adds a bounded amount to its text and ``tsvector``, and documents over the character, page or chunk caps
(or the extraction deadline) fail with the reason, shown by the API."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.hostile import distinct_words
from documents.models import Chunk
from documents.tests import samples
from documents.tests.ingestion import ingest_here, wait_finished
from retrieval.models import Posting

pytestmark = pytest.mark.django_db(transaction=True)


def _issue_markdown() -> bytes:
    """The issue's file: 45 KB of Markdown whose heading holds 2,000 distinct words."""
    heading = "# " + " ".join(distinct_words(2000))
    body = "\n\n".join([samples.REAL_TEXT] * 20)
    return (heading + "\n\n" + body + "\n").encode()[:45_000]


@pytest.mark.usefixtures("celery_worker")
def test_a_heading_of_two_thousand_words_no_longer_multiplies_the_index(alice, api_client_for):
    data = _issue_markdown()
    assert 44_000 < len(data) <= 45_000

    response = api_client_for(alice).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("amplify.md", data)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    document = wait_finished(response.json()["id"])

    assert document.status == "ready", document.error
    assert document.chunk_count < 100  # 635 before
    postings = Posting.objects.filter(document_id=document.pk).count()
    assert 0 < postings < 20_000  # more than 1.27 million before


def test_heading_paths_are_clipped_and_the_context_bounded(alice, workspace, settings):
    settings.DOCUMENT_HEADING_MAX_DEPTH = 3
    words = distinct_words(300)
    long_heading = " ".join(words)  # ~3,200 characters: under EXTRACT_MAX_LINE_CHARS, so still a heading
    assert 2000 < len(long_heading) < settings.EXTRACT_MAX_LINE_CHARS
    deep = "\n\n".join(f"{'#' * level} Level {level}" for level in range(2, 7))
    text = f"# {long_heading}\n\n{deep}\n\n" + "\n\n".join([samples.REAL_TEXT] * 4) + "\n"

    # a typed title: the long "# " heading would otherwise become the title, and the title is context too
    document = ingest_here(workspace, alice, "clipped.md", text.encode(), title="Clipped headings")

    assert document.status == "ready", document.error
    chunks = list(Chunk.objects.filter(document=document))
    assert chunks
    for chunk in chunks:
        assert len(chunk.heading_path) <= 3
        assert all(len(heading) <= settings.DOCUMENT_HEADING_MAX_CHARS for heading in chunk.heading_path)
    # Depth 3 keeps the two outermost and the innermost heading; the clipped 200-character heading does not
    # fit the context budget (25 % of the window) with the others, so the outermost is dropped.
    assert chunks[-1].heading_path == ["Level 2", "Level 6"]
    assert 100 < len(chunks[0].heading_path[0]) <= 200 and chunks[0].heading_path[0].endswith("\u2026")
    # Each chunk's index entry holds at most a few dozen words of context besides its own text.
    per_chunk = Posting.objects.filter(document_id=document.pk).count() / len(chunks)
    assert per_chunk < 250


@pytest.mark.parametrize(
    ("setting", "value", "name", "stage", "words"),
    [
        ("DOCUMENT_MAX_CHARS", 2000, "long.txt", "extracting", "more than 2,000 characters"),
        ("DOCUMENT_MAX_CHUNKS", 2, "long.txt", "chunking", "more than 2 chunks"),
        ("DOCUMENT_MAX_PAGES", 2, "three.pdf", "extracting", "3 pages, more than the 2 allowed"),
        ("EXTRACT_MAX_SECONDS", 0, "long.txt", "extracting", "took longer than 0 seconds"),
    ],
)
def test_a_document_over_a_cap_fails_with_the_reason(
    alice, workspace, settings, tmp_path, api_client_for, setting, value, name, stage, words
):
    setattr(settings, setting, value)
    if name.endswith(".pdf"):
        data = samples.make_pdf(tmp_path, [samples.REAL_TEXT] * 3).read_bytes()
    else:
        data = "\n\n".join([samples.REAL_TEXT] * 6).encode()

    document = ingest_here(workspace, alice, name, data)

    assert document.status == "failed"
    assert document.failed_stage == stage
    assert words in document.error
    assert not Chunk.objects.filter(document=document).exists()
    shown = api_client_for(alice).get(f"/api/v1/documents/{document.pk}/").json()
    assert shown["status"] == "failed" and words in shown["error"]
