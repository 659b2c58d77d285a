"""Chat telemetry retention (issue 14, item 4): the purge clears request-level telemetry older than
CHAT_TELEMETRY_RETENTION_DAYS and deletes old usage days, and keeps conversations, answers and recent telemetry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Message, UsageDay
from chat.tasks import chat_telemetry_purge_task

pytestmark = pytest.mark.django_db

TELEMETRY = {
    "latency_ms": 900,
    "first_token_ms": 120,
    "prompt_tokens": 400,
    "completion_tokens": 80,
    "fallbacks": [{"provider": "primary", "error": "timeout"}],
}


def test_only_expired_telemetry_is_cleared(alice, settings):
    settings.CHAT_TELEMETRY_RETENTION_DAYS = 30
    workspace = alice.personal_workspace
    conversation = Conversation.objects.create(workspace=workspace, user=alice, title="Kept")
    old, new = (
        Message.objects.create(
            conversation=conversation, role="assistant", content=f"{name} answer", provider="p", **TELEMETRY
        )
        for name in ("old", "new")
    )
    question = Message.objects.create(conversation=conversation, role="user", content="a question")
    now = timezone.now()
    Message.objects.filter(pk__in=[old.pk, question.pk]).update(created_at=now - timedelta(days=31))
    today = now.date()
    UsageDay.objects.create(workspace=workspace, user=alice, day=today - timedelta(days=31), questions=3)
    UsageDay.objects.create(workspace=workspace, user=alice, day=today - timedelta(days=29), questions=2)

    assert chat_telemetry_purge_task() == {"messages": 1, "usage_days": 1}

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.latency_ms, old.first_token_ms, old.prompt_tokens, old.completion_tokens, old.fallbacks) == (
        None,
        None,
        0,
        0,
        [],
    )
    assert old.content == "old answer" and old.provider == "p"  # the answer stays
    assert all(getattr(new, field) == value for field, value in TELEMETRY.items())
    assert Message.objects.filter(pk=question.pk, content="a question").exists()
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert list(UsageDay.objects.values_list("questions", flat=True)) == [2]
    assert chat_telemetry_purge_task() == {"messages": 0, "usage_days": 0}  # nothing left to clear


def test_a_single_telemetry_field_is_enough_and_messages_are_cleared_in_batches(alice, settings):
    """Each of the five fields alone marks a message as having telemetry; the purge clears them ``batch_size`` at a
    time, one UPDATE per batch (a first run on an old installation is not one huge transaction)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chat.retention import TELEMETRY_CLEARED, chat_telemetry_purge_expired

    settings.CHAT_TELEMETRY_RETENTION_DAYS = 30
    conversation = Conversation.objects.create(workspace=alice.personal_workspace, user=alice, title="Old")

    def message(content: str, **telemetry: object) -> Message:
        fields = {**TELEMETRY_CLEARED, **telemetry}
        return Message.objects.create(conversation=conversation, role="assistant", content=content, **fields)

    single = [message(field, **{field: value}) for field, value in list(TELEMETRY.items())[:2]]
    message("nothing to clear")  # between two batches
    single += [message(field, **{field: value}) for field, value in list(TELEMETRY.items())[2:]]
    Message.objects.filter(conversation=conversation).update(created_at=timezone.now() - timedelta(days=31))

    with CaptureQueriesContext(connection) as queries:
        assert chat_telemetry_purge_expired(batch_size=2) == {"messages": 5, "usage_days": 0}
    assert sum(q["sql"].startswith("UPDATE") for q in queries.captured_queries) == 3
    for row in single:
        row.refresh_from_db()
        assert {field: getattr(row, field) for field in TELEMETRY_CLEARED} == TELEMETRY_CLEARED, row.content
    assert chat_telemetry_purge_expired(batch_size=2) == {"messages": 0, "usage_days": 0}
