"""Real browser + real worker: drop files on the documents page, watch them become ready."""

import re

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD, UserFactory
from documents.tests import samples

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_upload_many_files_and_see_them_ready(page, tmp_path, settings):
    user = UserFactory(email="uma@example.com")
    good = tmp_path / "gettysburg.md"
    good.write_text("# Gettysburg\n\n" + samples.REAL_TEXT)
    pdf = samples.make_pdf(tmp_path, ["First page. " + samples.REAL_TEXT, "Second page. " + samples.REAL_TEXT])
    locked = samples.make_encrypted_pdf(tmp_path)

    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))
    page.get_by_role("link", name="Documents").first.click()
    page.wait_for_load_state()  # upload.js (deferred) listens for the file input's change from then on

    page.set_input_files("#file-input", [str(good), str(pdf), str(locked)])
    page.wait_for_selector("#upload-list li.error .note", timeout=60_000)
    assert "password-protected" in page.inner_text("#upload-list li.error .note")
    # Locator waits, not wait_for_function: the Content-Security-Policy forbids the eval it needs.
    expect(page.locator("#upload-list li.ok")).to_have_count(2, timeout=60_000)

    # htmx polling turns the rows to Ready without a reload.
    expect(page.locator("#document-rows tr[data-status=ready]")).to_have_count(2, timeout=90_000)
    page.screenshot(path=str(settings.DATA_DIR / "browser-documents.png"), full_page=True)
    page.get_by_role("link", name="sample").click()
    page.wait_for_selector(".chunk")
    assert "page 1" in page.inner_text(".chunk >> nth=0")
