"""Chat fixtures: alice's personal workspace with two small documents, a conversation in it, the loopback LLM."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import User, Workspace
from accounts.selectors import workspace_get_personal
from chat.testing import FakeLLM
from chat.tests.factories import BREAD, VOLCANO
from retrieval.tests.factories import ingest_text


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    server = FakeLLM(hang_s=2.5)
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _offline_and_fast_retries(settings) -> None:
    """No provider unless a test configures one; retries back off in milliseconds."""
    settings.LLM_RETRY_INITIAL_S = 0.01
    settings.LLM_RETRY_MAX_S = 0.02
    settings.LLM_PROVIDERS = []


@pytest.fixture
def alice_space(alice: User) -> Workspace:
    space = workspace_get_personal(user=alice)
    for title, text in (VOLCANO, BREAD):
        ingest_text(space, text, title=title)
    return space


@pytest.fixture
def conversation(alice: User, alice_space: Workspace, api_client_for) -> int:
    body = api_client_for(alice).post("/api/v1/conversations/", {"title": "Geology"}, format="json").json()
    return body["id"]
