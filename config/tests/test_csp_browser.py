"""Real browser with the Content-Security-Policy on: every main page works and the browser reports no violation.

Violations are collected from the browser itself (a ``securitypolicyviolation`` listener in every document, and
its console), as are uncaught script errors. Waits go through locators: Playwright's ``wait_for_function``
evaluates a string, which the policy (rightly) blocks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import Dialog, Page, expect

from accounts.models import Membership, User
from accounts.selectors import workspace_get_personal
from accounts.tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory
from chat.models import Conversation
from chat.testing import FakeLLM
from documents.models import Document
from documents.services.ingest import document_ingest
from documents.services.upload import document_upload
from documents.tests import samples

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => window.__cspViolation({
  directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
  sample: e.sample, page: document.location.href,
}));
"""
BREAKWATER = "The northern breakwater was rebuilt in 1931 after a winter storm destroyed it."


class BrowserReports:
    """What the browser said while the test ran: CSP violations, CSP console messages, uncaught errors."""

    def __init__(self, page: Page) -> None:
        self.violations: list[Any] = []
        self.errors: list[str] = []
        context = page.context
        context.expose_function("__cspViolation", lambda report: self.violations.append(report))
        context.add_init_script(LISTENER)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.errors.append(str(error.error)))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append(message.text)


@pytest.fixture
def fake_llm():
    server = FakeLLM()
    yield server
    server.close()


def _log_in(page: Page, email: str) -> None:
    response = page.goto("/accounts/login/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "camera=()" in response.headers["permissions-policy"]
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))


def _upload(page: Page, tmp_path) -> None:
    """The documents page's drag-and-drop upload (progress bar), then htmx polling shows the row ready."""
    source = tmp_path / "harbor.md"
    source.write_text("# Harbor almanac\n\n" + "\n\n".join([samples.REAL_TEXT] * 3) + "\n\n" + BREAKWATER + "\n")
    page.get_by_role("link", name="Documents").first.click()
    page.wait_for_load_state()  # upload.js (deferred) listens for the file input's change from then on
    page.set_input_files("#file-input", [str(source)])
    expect(page.locator("#upload-list li.ok progress")).to_have_attribute("value", "100", timeout=30_000)
    expect(page.locator("#document-rows tr[data-status=ready]")).to_have_count(1, timeout=90_000)


def _live_status(page: Page, user: User) -> None:
    """The detail page polls a queued document's status; once ready, the swapped-in status reloads the page
    (data-reload-page, static/js/app.js) and the chunks appear. The test ingests it, so no worker races it."""
    document = document_upload(
        workspace=workspace_get_personal(user=user),
        user=user,
        file=ContentFile(("Tides. " + samples.REAL_TEXT).encode()),
        filename="tides.txt",
        title="Tides",
        enqueue=False,
    ).document
    page.goto(f"/documents/{document.pk}/")
    expect(page.locator("#doc-status[hx-get]")).to_have_count(1)
    assert document_ingest(document_id=document.pk) == Document.Status.READY
    expect(page.locator(".chunk").first).to_be_visible(timeout=30_000)

    # The confirm dialog guards delete: dismissed, the document stays.
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Delete").click()
    assert dialogs == ["Delete this document, its versions and chunks?"]
    assert Document.objects.filter(pk=document.pk).exists()


def _chat(page: Page) -> None:
    """A streamed answer (fetch + server-sent events), its citation scrolled into view, delete with confirm."""
    page.goto("/chat/")
    page.get_by_role("button", name="Start a conversation").click()
    page.wait_for_url(re.compile(r".*/chat/\d+/$"))
    page.fill("#question", "When was the northern breakwater rebuilt?")
    page.get_by_role("button", name="Ask").click()
    answer = page.locator("#messages .msg.assistant[data-message] .answer")
    expect(answer.locator("a.cite").first).to_be_visible(timeout=30_000)  # streamed, then the rendered answer
    assert "Searching" not in page.inner_text("#chat-status")
    href = page.locator("#messages .msg.assistant .citations a").first.get_attribute("href")
    assert href
    chat_url = page.url

    page.set_viewport_size({"width": 800, "height": 300})  # the cited passage is far below the fold
    page.goto(href)
    box = page.locator("#cited-passage").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + min(box["height"], 300) <= 300, box
    page.set_viewport_size({"width": 1280, "height": 720})

    page.goto(chat_url)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(r".*/chat/$"))
    assert not Conversation.objects.exists()


def test_main_pages_work_with_the_policy_on_and_report_no_violation(page, tmp_path, settings, fake_llm):
    settings.LLM_PROVIDERS = [fake_llm.provider("ok")]
    user = UserFactory.create(email="uma@example.com", is_staff=True, is_superuser=True)
    team = WorkspaceFactory.create(name="Acme")
    MembershipFactory(user=user, workspace=team, role=Membership.Role.OWNER)
    MembershipFactory(user=UserFactory.create(email="bob@example.com"), workspace=team)
    reports = BrowserReports(page)

    _log_in(page, user.email)
    _upload(page, tmp_path)
    _live_status(page, user)

    page.goto("/search/?q=breakwater")
    expect(page.locator("#results li.result").first).to_contain_text("Harbor almanac")
    _chat(page)

    # The workspace switcher submits on change (data-autosubmit), without a button.
    with page.expect_navigation():
        page.select_option("#workspace-switcher", label="Acme")
    expect(page.locator("#workspace-switcher option:checked")).to_have_text("Acme")
    page.get_by_role("link", name="Members").click()
    expect(page.locator("main")).to_contain_text("bob@example.com")
    page.get_by_role("link", name="Account").click()
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("h1")).to_have_text("Account")
    page.get_by_role("link", name="Manage email addresses").click()  # allauth's pages and scripts
    expect(page.locator("main")).to_contain_text(user.email)
    page.goto("/profile/")
    page.get_by_role("link", name="Change password").click()
    expect(page.locator("input[name=oldpassword]")).to_be_visible()

    page.goto("/api/docs/")  # Swagger UI (drf-spectacular's sidecar), its init script a file of its own
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Groundwork API")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    page.locator(".swagger-ui .opblock-summary").first.click()  # an operation opens, with its form
    expect(page.get_by_role("button", name="Try it out")).to_be_visible()
    page.screenshot(path=str(settings.DATA_DIR / "browser-api-docs.png"))
    page.goto("/admin/documents/document/")
    expect(page.locator("#result_list")).to_contain_text("Harbor almanac")

    assert reports.violations == []
    assert reports.errors == []
