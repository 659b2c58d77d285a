"""Real browser: script payloads in a document's text, its file name and title, a conversation's title, a language
model's answer and the citation snippets never execute, and are shown as the text they are (issue 17, part 4).

The browser context bypasses the Content-Security-Policy, so markup that got through unescaped would run here: the
test sees it as a ``dialog``, as a write to ``window.__xss`` (a trap reporting to the test), or as an element with an
``on*`` attribute or a ``javascript:`` URL. The payloads must also be visible as text, so a page that dropped them
instead of escaping them fails too. The first test proves the detector: it catches a deliberately unsafe page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import Page, expect

from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD, UserFactory
from chat.testing import FakeLLM
from documents.models import Document
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SVG = '"><svg onload=alert(1)>'
LINK = "[x](javascript:alert(1))"
TEXT = (
    f"The northern breakwater was rebuilt in 1931 after a winter storm {IMG} destroyed it. "
    f'Harbor notes {SCRIPT} and {SVG} and {LINK} and <a href="javascript:alert(1)">tides</a> end here.'
)
FILENAME = f"{IMG}.txt"
TITLE = f"Harbor {SVG}{SCRIPT}"
CONVERSATION = f"Chat {IMG}"
TRAP = """
Object.defineProperty(window, "__xss", {
  configurable: true,
  get() { return undefined; },
  set(value) { window.__xssReport(String(value)); },
});
"""
INJECTED = """() => [...document.querySelectorAll("*")].flatMap((element) => [...element.attributes]
  .filter((a) => a.name.startsWith("on") || /^\\s*javascript:/i.test(a.value))
  .map((a) => `${element.tagName} ${a.name}=${a.value}`))"""


class XssWatch:
    """What a page's scripts did that only injected markup would do: dialogs opened (dismissed), writes to
    ``window.__xss``, elements carrying event-handler attributes or ``javascript:`` URLs (``injected``)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.side_effects: list[str] = []
        page.context.expose_binding("__xssReport", lambda source, value: self.side_effects.append(value))
        page.context.add_init_script(TRAP)
        page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def injected(self) -> list[str]:
        self.page.wait_for_load_state("networkidle")  # a broken image's onerror has fired by now
        return self.page.evaluate(INJECTED)

    def assert_clean(self) -> None:
        assert (self.dialogs, self.side_effects, self.injected()) == ([], [], []), self.page.url


@pytest.fixture
def watched(_browser, live_server):
    """A page whose context ignores the Content-Security-Policy (injected scripts would run), and its ``XssWatch``."""
    context = _browser.new_context(base_url=live_server.url, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page, XssWatch(page)
    context.close()


@pytest.fixture
def fake_llm():
    server = FakeLLM()
    yield server
    server.close()


def test_the_detector_catches_an_unsafe_page(watched):
    page, watch = watched
    unsafe = f"<html><body><p>unsafe</p>{IMG}<a href='javascript:alert(2)'>x</a></body></html>"
    page.route("**/unsafe/", lambda route: route.fulfill(body=unsafe, content_type="text/html"))
    page.goto("/unsafe/")

    assert watch.injected() == ["IMG onerror=window.__xss=1;alert(1)", "A href=javascript:alert(2)"]
    assert watch.dialogs == ["1"] and watch.side_effects == ["1"]


def _log_in(page: Page, email: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))


def _hostile_document(user) -> Document:
    result = document_upload(
        workspace=workspace_get_personal(user=user),
        user=user,
        file=ContentFile(TEXT.encode()),
        filename=FILENAME,
        title=TITLE,
        enqueue=False,
    )
    assert document_ingest(document_id=result.document.pk) == Document.Status.READY
    return Document.objects.get(pk=result.document.pk)


def _visit(page: Page, watch: XssWatch, url: str, *texts: str) -> None:
    page.goto(url)
    for text in texts:
        expect(page.locator("main")).to_contain_text(text)
    watch.assert_clean()


def test_payloads_in_documents_titles_and_answers_never_run(watched, settings, fake_llm, api_client_for):
    settings.LLM_PROVIDERS = [fake_llm.provider("xss")]  # the model answers with script, an image and a js: link
    page, watch = watched
    user = UserFactory.create(email="uma@example.com")
    document = _hostile_document(user)
    conversation = api_client_for(user).post("/api/v1/conversations/", {"title": CONVERSATION}, format="json")
    assert conversation.status_code == 201, conversation.content

    _log_in(page, user.email)
    _visit(page, watch, "/documents/", TITLE)
    _visit(page, watch, f"/documents/{document.pk}/", TITLE, FILENAME, SCRIPT, IMG, SVG, LINK)
    _visit(page, watch, "/search/?q=breakwater", TITLE, IMG)

    page.goto(f"/chat/{conversation.json()['id']}/")
    expect(page.locator("#conversation-title")).to_have_value(CONVERSATION)
    expect(page.locator("main")).to_contain_text(CONVERSATION)
    page.fill("#question", "When was the northern breakwater rebuilt?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator("#messages .msg.assistant[data-message] .answer")
    expect(answer.locator("a.cite").first).to_be_visible(timeout=30_000)
    expect(answer).to_contain_text("<script>alert('x')</script>")  # the model's markup, as text
    expect(answer).to_contain_text("<img src=x onerror=alert(1)>")
    expect(page.locator("#messages .msg.assistant .citations")).to_contain_text(TITLE)
    watch.assert_clean()

    citation = page.locator("#messages .msg.assistant .citations a").first.get_attribute("href")
    assert citation
    page.reload()  # the stored answer, rendered by the server
    expect(page.locator("#messages .msg.assistant .answer")).to_contain_text("<script>alert('x')</script>")
    watch.assert_clean()
    _visit(page, watch, citation, TITLE, IMG, SCRIPT)
