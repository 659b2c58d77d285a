"""Real browser: ask a question on the chat page, watch the answer stream in, open its citation in context."""

from __future__ import annotations

import re

import pytest
from django.core.files import File

from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD, UserFactory
from chat.models import Feedback
from documents.models import Document
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload
from documents.tests import samples

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGE_ONE = "Harbor almanac. The lighthouse keeper logs the weather every morning at six. " + samples.REAL_TEXT
PAGE_TWO = (
    "Tides and ships. The northern breakwater was rebuilt in 1931 after a winter storm destroyed it. "
    "Fishing boats now shelter behind it during gales."
)


def _login(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))


def test_ask_on_the_chat_page_and_open_the_citation(page, tmp_path, settings):
    settings.LLM_PROVIDERS = []  # the offline extractive answerer
    user = UserFactory.create(email="uma@example.com")
    pdf = samples.make_pdf(tmp_path, [PAGE_ONE, PAGE_TWO], name="harbor.pdf")
    with pdf.open("rb") as handle:
        result = document_upload(
            workspace=workspace_get_personal(user=user),
            user=user,
            file=File(handle),
            filename="harbor.pdf",
            title="Harbor almanac",
            enqueue=False,
        )
    assert document_ingest(document_id=result.document.pk) == Document.Status.READY

    _login(page, user)
    page.goto("/chat/")
    page.get_by_role("button", name="Start a conversation").click()
    page.wait_for_url(re.compile(r".*/chat/\d+/$"))
    page.fill("#question", "When was the northern breakwater rebuilt?")
    page.get_by_role("button", name="Ask").click()

    answer = page.locator("#messages .msg.assistant[data-message] .answer")
    answer.wait_for()
    assert answer.inner_text().count("1931") == 1  # overlapping chunks do not repeat a sentence
    assert "extractive" in page.inner_text("#messages .msg.assistant .provider")
    assert answer.locator("a.cite").count() >= 1  # verified markers became links
    citation = page.locator("#messages .msg.assistant .citations a").first
    assert "Harbor almanac, page 2" in citation.inner_text()

    # feedback goes to the URL the server rendered into the answer (no URL is built in JS)
    page.locator("#messages .msg.assistant .vote[data-rating='1']").click()
    page.wait_for_selector("#chat-status:has-text('Thanks for the feedback.')")
    assert Feedback.objects.filter(user=user, rating=Feedback.Rating.UP).count() == 1

    with page.context.expect_page() as opened:
        citation.click()
    passage = opened.value
    passage.wait_for_load_state()
    assert "1931" in passage.inner_text("#cited-passage")  # the supporting sentence, inside the chunk
    assert "page 2" in passage.inner_text("main")
    passage.screenshot(path=str(settings.DATA_DIR / "browser-citation.png"), full_page=True)

    # The conversation is kept: after a reload the answer and its citation are still there.
    page.reload()
    assert "1931" in page.inner_text("#messages .msg.assistant .answer")
    page.screenshot(path=str(settings.DATA_DIR / "browser-chat.png"), full_page=True)
