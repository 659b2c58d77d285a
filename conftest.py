"""Shared fixtures: alice (owner), bob (member) and charlie (outsider) around alice's team workspace."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Membership, User, Workspace
from accounts.tests.factories import MembershipFactory, UserFactory, WorkspaceFactory


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Rate-limit counters and cached values live in the (real) Redis test database: start each test clean."""
    cache.clear()


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(email="alice@example.com", name="Alice")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(email="bob@example.com", name="Bob")


@pytest.fixture
def charlie(db: None) -> User:
    return UserFactory(email="charlie@example.com", name="Charlie")


@pytest.fixture
def workspace(alice: User, bob: User) -> Workspace:
    """Alice's shared workspace "Acme": alice is owner, bob is member."""
    ws = WorkspaceFactory(name="Acme")
    MembershipFactory(user=alice, workspace=ws, role=Membership.Role.OWNER)
    MembershipFactory(user=bob, workspace=ws, role=Membership.Role.MEMBER)
    return ws


def _api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api_client_for():
    """``api_client_for(user)``: a DRF client authenticated as ``user`` (session-style), or anonymous."""
    return _api_client


# --- browser tests: Playwright driving Debian's chromium ------------------------------------------

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def _browser():
    import os
    import shutil

    from django.conf import settings

    path = settings.CHROMIUM_PATH
    if not (os.path.exists(path) or shutil.which(path)):
        if settings.REQUIRE_BROWSER:
            pytest.fail(f"chromium not found at {path} and REQUIRE_BROWSER is set")
        pytest.skip(f"chromium not found at {path}: apt-get install chromium (or set CHROMIUM_PATH)")
    # Playwright's sync API keeps an event loop on this thread; Django's ORM calls from the test body
    # are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(_browser, live_server):
    """A fresh browser context and page; ``page.base_url`` is the live server's URL."""
    context = _browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()
