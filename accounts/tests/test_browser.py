"""Real browser: a new user signs up, confirms the emailed link, logs in, and sees their personal workspace."""

import re

import pytest
from django.core import mail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long and unusual passphrase 7"


def test_sign_up_log_in_and_see_personal_workspace(page, settings):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    page.goto("/")
    assert "/accounts/login/" in page.url
    page.get_by_role("link", name="Sign up").first.click()
    page.fill("input[name=email]", "maria@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.wait_for_url("**/confirm-email/")
    assert "Verify Your Email Address" in page.content()

    found = re.search(r"http://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
    assert found is not None, mail.outbox[-1].body
    link = found.group(0)
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))
    assert page.locator("h1").inner_text() == "maria's workspace"

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(r".*/accounts/(login|logout)/.*|.*/$"))
    page.goto("/accounts/login/")
    page.fill("input[name=login]", "maria@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r".*/workspaces/\d+/$"))
    assert page.locator("h1").inner_text() == "maria's workspace"
    assert page.locator("#workspace-switcher option:checked").inner_text() == "maria's workspace"
    page.screenshot(path=str(settings.DATA_DIR / "browser-signup.png"))
