"""A presentation's pages are slides wherever they are cited (issue 15, item 2): a PowerPoint file uploaded through
the API and ingested by a real worker answers a question with a citation that reads "slide 3" in the API, the chat
page, the citation page, search and the model's prompt."""

from __future__ import annotations

import pytest

from chat.tests.factories import ask
from documents.tests import office_samples as office
from documents.tests.ingestion import upload, wait_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

QUESTION = "May a soldier be quartered in any house in time of peace without the consent of the owner?"


def test_a_citation_of_a_slide_reads_slide_n(alice, tmp_path, api_client_for, client_for, fake, settings):
    client = api_client_for(alice)
    document_id = upload(client, "bill-of-rights.pptx", office.make_pptx(tmp_path).read_bytes())
    assert wait_finished(document_id).status == "ready"
    conversation = client.post("/api/v1/conversations/", {"title": "Amendments"}, format="json").json()["id"]

    body = ask(client, conversation, QUESTION).json()

    citation = next(c for c in body["citations"] if c["document_id"] == document_id)
    assert (citation["page_start"], citation["page_end"], citation["page_label"]) == (3, 3, "slide 3")
    pages = client_for(alice)
    chat_page = pages.get(f"/chat/{conversation}/").content.decode()
    assert ", slide 3</a>" in chat_page, chat_page[chat_page.find("citation-") :][:600]
    assert "· slide 3 ·" in pages.get(f"/chat/citations/{citation['id']}/").content.decode()
    listed = client.get(f"/api/v1/conversations/{conversation}/").json()
    assert listed["messages"][-1]["citations"][0]["page_label"] == "slide 3"
    results = client.post("/api/v1/search/", {"query": "soldier quartered in any house"}, format="json").json()
    assert (results["results"][0]["page_label"], results["results"][0]["document_id"]) == ("slide 3", document_id)
    search_page = pages.get("/search/", {"q": "soldier quartered in any house"}).content.decode()
    assert ">slide 3</span>" in search_page

    settings.LLM_PROVIDERS = [fake.provider("ok")]  # the model is told where each source is, in the same words
    ask(client, conversation, QUESTION)
    assert 'title="The Bill of Rights" location="slide 3">' in fake.requests[-1][1]["messages"][-1]["content"]
