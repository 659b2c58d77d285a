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
