"""PowerPoint, Excel, OpenDocument and EPUB files end to end: uploaded through the API, ingested by a real Celery
worker on the real broker and database (issue 15, item 2). Hostile variants fail with their reason, at upload
or in the worker."""

from __future__ import annotations

from pathlib import Path

import pytest

from documents.models import Chunk, Document, DocumentVersion
from documents.services.extract import extract
from documents.tests import office_samples as office
from documents.tests.ingestion import upload, wait_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def _chunk_with(document_id: int, needle: str) -> Chunk:
    return next(c for c in Chunk.objects.filter(document_id=document_id).select_related("version") if needle in c.text)


def test_every_new_format_reaches_ready_with_its_pages_sections_and_title(alice, tmp_path, api_client_for, client_for):
    files = {  # upload name -> (file, kind, slides, title); some names lie: the content decides
        "bill-of-rights.pptx": (office.make_pptx(tmp_path), "pptx", 4, "The Bill of Rights"),
        "amendments.xlsx": (office.make_xlsx(tmp_path), "xlsx", None, "Constitutional amendments"),
        "bill-of-rights.docx": (office.make_odt(tmp_path), "odt", None, "The Bill of Rights"),
        "amendments.ods": (office.make_ods(tmp_path), "ods", None, ""),
        "bill-of-rights.odp": (office.make_odp(tmp_path), "odp", 4, "The Bill of Rights"),
        "bill-of-rights.zip": (office.make_epub(tmp_path), "epub", None, "The Bill of Rights"),
    }
    client = api_client_for(alice)
    ids = {name: upload(client, name, path.read_bytes()) for name, (path, *_) in files.items()}

    for name, (_, kind, slides, title) in files.items():
        document = wait_finished(ids[name])
        assert document.status == "ready", (name, document.error)
        version = DocumentVersion.objects.get(document=document)
        assert version.kind == kind
        assert document.page_count == slides
        assert extract(Path(version.file.path), version.kind).title == title  # what titles the document
    pptx_chunk = _chunk_with(ids["bill-of-rights.pptx"], "No Soldier shall")
    assert (pptx_chunk.page_start, pptx_chunk.heading_path, pptx_chunk.page_label) == (3, ["Amendment III"], "slide 3")
    assert _chunk_with(ids["bill-of-rights.odp"], "A well regulated Militia").page_label == "slide 2"
    assert _chunk_with(ids["amendments.xlsx"], "measure: share").heading_path == ["Totals"]
    assert _chunk_with(ids["amendments.ods"], "amendment: XXVII; ").heading_path == ["Amendments"]
    assert _chunk_with(ids["bill-of-rights.docx"], "No Soldier").heading_path == ["The Bill of Rights", "Amendment III"]
    assert _chunk_with(ids["bill-of-rights.zip"], "No Soldier").heading_path == ["Amendment III"]

    chunks = client.get(f"/api/v1/documents/{ids['bill-of-rights.pptx']}/chunks/").json()["results"]
    assert {c["page_label"] for c in chunks} == {"slide 1", "slide 2", "slide 3", "slide 4"}
    page = client_for(alice).get(f"/documents/{ids['bill-of-rights.pptx']}/").content.decode()
    assert "<dt>Slides</dt><dd>4</dd>" in page and " · slide 3 · " in page


def test_hostile_files_fail_with_their_reason_at_upload_or_in_the_worker(alice, tmp_path, api_client_for):
    client = api_client_for(alice)
    zeros = {"media/zeros.bin": bytes(20 * 1024 * 1024)}
    bomb = office.rewrite_zip(office.make_pptx(tmp_path), tmp_path / "bomb.pptx", zeros)
    response = client.post("/api/v1/documents/", {"file": bomb.open("rb")}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "zip_bomb", response.content
    assert not Document.objects.exists()

    laughs = office.billion_laughs("root", "urn:groundwork:bomb")
    hostile = {
        "slides.pptx": office.make_many_slides_pptx(tmp_path, 2_001),
        "laughs.odt": office.rewrite_zip(office.make_odt(tmp_path), tmp_path / "laughs.odt", {"content.xml": laughs}),
    }
    ids = {name: upload(client, name, path.read_bytes()) for name, path in hostile.items()}
    reasons = {name: wait_finished(document_id).error for name, document_id in ids.items()}

    assert "This presentation has 2,001 slides, more than the 2,000 allowed" in reasons["slides.pptx"]
    assert "declares XML entities (a possible XML bomb)" in reasons["laughs.odt"]
    assert Document.objects.filter(status="failed").count() == 2


def test_a_sheet_with_a_million_empty_rows_reaches_ready_with_its_rows(alice, tmp_path, api_client_for):
    empty_rows = b"".join(b'<row r="%d"/>' % n for n in range(100, 1_000_100))
    path = office.rewrite_zip(
        office.make_xlsx(tmp_path),
        tmp_path / "empty-rows.xlsx",
        {"xl/worksheets/sheet1.xml": lambda xml: xml.replace(b"</sheetData>", empty_rows + b"</sheetData>")},
    )

    document = wait_finished(upload(api_client_for(alice), "empty-rows.xlsx", path.read_bytes()))

    assert document.status == "ready", document.error
    text = DocumentVersion.objects.get(document=document).extracted_text
    assert text.count("amendment: ") == 27
