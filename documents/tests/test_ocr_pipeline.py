"""OCR end to end (issue 15, item 1): scans uploaded through the API, read by a real Celery worker with the real
tesseract, answered by the chat API (the offline extractive answerer) with a citation to the scanned page;
progress per page; a server without tesseract says why. Files are real public-domain text rendered with
DejaVu fonts (``documents.tests.scans``)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from config.testing import wait_until
from documents.demo_corpus.builders.common import read_source
from documents.tests import scans
from documents.tests.ingestion import upload, wait_finished
from documents.tests.samples import REAL_TEXT

pytestmark = [pytest.mark.django_db(transaction=True)]

BILL_OF_RIGHTS = [p for p in read_source("bill_of_rights.txt").split("\n\n") if len(p) > 200][:2]


@pytest.fixture(autouse=True)
def _ocr():
    scans.require_ocr()


@pytest.mark.usefixtures("celery_worker")
def test_scans_reach_ready_and_a_question_about_the_scanned_page_cites_it(
    alice, tmp_path, api_client_for, client_for, celery_worker
):
    client = api_client_for(alice)
    mixed = scans.mixed_pdf(
        tmp_path, [("text", REAL_TEXT), ("scan", scans.SCANNED_ONLY), ("text", scans.DECLARATION[2])]
    )
    files = {
        "photo.png": scans.photo_of_page(),
        "pages.tif": scans.multipage_tiff(scans.DECLARATION[3:5]),
        "scan.pdf": scans.image_pdf(BILL_OF_RIGHTS),
        "mixed.pdf": mixed.read_bytes(),
    }
    ids = {name: upload(client, name, data) for name, data in files.items()}
    for name, document_id in ids.items():
        document = wait_finished(document_id, worker=celery_worker)
        assert document.status == "ready", (name, document.error)
    pages = {name: client.get(f"/api/v1/documents/{ids[name]}/").json() for name in files}
    assert {name: body["page_count"] for name, body in pages.items()} == {
        "photo.png": 1,
        "pages.tif": 2,
        "scan.pdf": 2,
        "mixed.pdf": 3,
    }
    assert pages["pages.tif"]["versions"][0]["kind"] == "image"
    ocr = pages["mixed.pdf"]["ocr"]
    assert (ocr["pages_total"], ocr["pages_read"], [page["page"] for page in ocr["pages"]]) == (3, 1, [2])
    assert ocr["mean_confidence"] > 80 and ocr["low_confidence_pages"] == [] and ocr["unread_pages"] == []
    assert pages["scan.pdf"]["ocr"]["pages_read"] == 2

    html = client_for(alice).get(reverse("documents:detail", args=[ids["mixed.pdf"]])).content.decode()
    assert re.search(r"Pages read by OCR: 1 of 3, mean confidence \d\d %", html)

    conversation = client.post("/api/v1/conversations/", {"title": "Lincoln"}, format="json").json()["id"]
    answer = client.post(
        f"/api/v1/conversations/{conversation}/messages/",
        {"content": "What did Lincoln say about malice toward none and charity for all?"},
        format="json",
    ).json()
    assert "malice" in answer["answer"].lower(), answer
    cited = [c for c in answer["citations"] if c["document_id"] == ids["mixed.pdf"]]
    assert cited and all(c["page_start"] == c["page_end"] == 2 for c in cited), answer["citations"]


@pytest.mark.usefixtures("celery_worker")
def test_ocr_progress_is_shown_per_page_on_the_api_and_the_page(alice, api_client_for, client_for, celery_worker):
    client, pages = api_client_for(alice), 6
    document_id = upload(client, "long.tif", scans.multipage_tiff([scans.DECLARATION[3]] * pages))

    def label() -> str:
        return client.get(f"/api/v1/documents/{document_id}/").json()["progress"]["text"]

    wait_until(
        lambda: re.fullmatch(rf"OCR [1-{pages - 1}] of {pages} pages", label()),
        timeout=120,
        failure=lambda: f"no OCR progress seen; last label {label()!r}",
    )
    status = reverse("documents:status", args=[document_id])
    wait_until(
        lambda: re.search(rf"OCR [1-{pages - 1}] of {pages} pages", client_for(alice).get(status).content.decode()),
        timeout=120,
        failure=lambda: "no OCR progress on the page",
    )
    assert wait_finished(document_id, worker=celery_worker).status == "ready"


def test_a_server_without_tesseract_fails_scans_with_that_reason_and_says_so_at_start(
    alice, api_client_for, start_own_worker
):
    worker = start_own_worker({"OCR_TESSERACT_CMD": "tesseract-not-installed"})
    assert "OCR is off on this server: tesseract is not installed." in worker.log.read_text()
    client = api_client_for(alice)
    scan = wait_finished(upload(client, "scan.pdf", scans.image_pdf([REAL_TEXT])), worker=worker)
    photo = wait_finished(upload(client, "photo.png", scans.photo_of_page()), worker=worker)

    assert (scan.status, photo.status) == ("failed", "failed")
    assert scan.error == (
        "No text could be extracted: this looks like a scanned PDF, and OCR is off on this server: tesseract is not"
        " installed."
    )
    assert photo.error.endswith("images are read by OCR, and OCR is off on this server: tesseract is not installed.")
