"""Each step of the answer pipeline alone (chat.pipeline), then the orchestrator's contract (chat.services)."""

from __future__ import annotations

import pytest

from chat.models import Citation, Message, UsageDay
from chat.pipeline import (
    EXTRACTIVE,
    NOT_COVERED,
    AnswerDraft,
    answer_generate,
    answer_persist,
    answer_retrieve,
    answer_start,
    answer_verify,
)
from chat.prompting import HISTORY_MESSAGES
from chat.services import ANSWER_FAILED, message_answer
from chat.tests.factories import ConversationFactory, QuestionFactory, ask, sse_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice, alice_space):
    """A conversation of alice's over her two documents."""
    return ConversationFactory.create(user=alice, workspace=alice_space)


def _draft(conversation, content: str) -> AnswerDraft:
    return answer_start(
        conversation=conversation, question=QuestionFactory.create(conversation=conversation, content=content)
    )


def test_start_keeps_the_last_turns_and_the_previous_standalone_question(chat):
    for n in range(HISTORY_MESSAGES):
        QuestionFactory.create(conversation=chat, content=f"question {n}")
        Message.objects.create(
            conversation=chat, role=Message.Role.ASSISTANT, content=f"answer {n}", standalone_query=f"query {n}"
        )
    draft = _draft(chat, "And then?")
    assert len(draft.history) == HISTORY_MESSAGES
    assert draft.history[-1] == ("assistant", f"answer {HISTORY_MESSAGES - 1}")
    assert draft.history[0] == ("user", f"question {HISTORY_MESSAGES // 2}")
    assert draft.previous_query == f"query {HISTORY_MESSAGES - 1}"
    assert _draft(ConversationFactory.create(), "First?").previous_query == ""


def test_retrieve_numbers_the_sources_and_gates_coverage(chat):
    draft = _draft(chat, "What makes bread rise?")
    answer_retrieve(draft)
    assert draft.covered and draft.standalone == "What makes bread rise?"
    assert draft.sources[1].document.title == "Bread"
    off_topic = _draft(chat, "Who won the 1987 snooker world championship final?")
    answer_retrieve(off_topic)
    assert not off_topic.covered


def test_generate_says_not_covered_without_sources(chat):
    draft = _draft(chat, "Who won the 1987 snooker world championship final?")
    answer_retrieve(draft)
    events = list(answer_generate(draft))
    assert [(e.name, e.data) for e in events] == [("token", {"text": NOT_COVERED})]
    assert draft.provider == EXTRACTIVE and draft.first_token is not None


def test_generate_falls_back_to_the_extractive_answerer(chat):
    draft = _draft(chat, "What makes bread rise?")
    answer_retrieve(draft)
    streamed = "".join(e.data["text"] for e in answer_generate(draft) if e.name == "token")
    assert streamed == "".join(draft.parts) and "rise" in streamed and "[" in streamed
    assert draft.provider == EXTRACTIVE and draft.fallbacks == []


def test_verify_keeps_only_supported_markers(chat):
    draft = _draft(chat, "What makes bread rise?")
    answer_retrieve(draft)
    draft.parts = ["The gas makes bread rise before baking [1]. Volcanoes erupt [1, 9]."]
    answer_verify(draft)
    assert draft.verified is not None
    assert draft.verified.answer == "The gas makes bread rise before baking [1]. Volcanoes erupt."
    assert {issue["marker"] for issue in draft.verified.issues} == {1, 9}
    assert set(draft.verified.support) == {1}


def test_persist_stores_the_message_citations_and_token_usage(chat, alice):
    draft = _draft(chat, "What makes bread rise?")
    answer_retrieve(draft)
    draft.parts = ["The gas makes bread rise before baking [1]."]
    draft.provider, draft.prompt_tokens, draft.completion_tokens = "ok", 100, 9
    answer_verify(draft)
    message = answer_persist(draft)
    assert message.pk and message.provider == "ok" and message.content == "The gas makes bread rise before baking [1]."
    assert message.retrieved[0]["marker"] == 1 and message.retrieved[0]["document_title"] == "Bread"
    citation = Citation.objects.get(message=message)
    assert citation.marker == 1 and citation.quote == draft.sources[1].chunk.text
    assert UsageDay.objects.get(user=alice, workspace=chat.workspace).tokens == 109


def test_an_unexpected_failure_is_an_error_event_and_stores_nothing(chat, monkeypatch):
    def broken(draft: AnswerDraft) -> None:
        raise RuntimeError("the index is on fire")

    monkeypatch.setattr("chat.services.answer_retrieve", broken)
    question = QuestionFactory.create(conversation=chat)
    events = list(message_answer(conversation=chat, question=question))
    assert [(e.name, e.data) for e in events] == [("error", {"detail": ANSWER_FAILED, "code": "error"})]
    assert not Message.objects.filter(conversation=chat, role=Message.Role.ASSISTANT).exists()


def test_the_done_event_carries_the_page_fragment(alice, conversation, api_client_for):
    events = sse_events(ask(api_client_for(alice), conversation, "What makes bread rise?", stream=True))
    name, done = events[-1]
    assert name == "done"
    fragment = done["fragment"]
    assert f'data-message="{done["id"]}"' in fragment
    assert done["html"] in fragment and f"/api/v1/messages/{done['id']}/feedback/" in fragment
    assert all(f'href="/chat/citations/{c["id"]}/"' in fragment for c in done["citations"])


def test_a_fragment_that_cannot_be_rendered_ends_the_stream_with_an_error(
    alice, conversation, api_client_for, monkeypatch
):
    def broken(*args: object, **kwargs: object) -> str:
        raise ValueError("template exploded")

    monkeypatch.setattr("chat.api.render_to_string", broken)
    events = sse_events(ask(api_client_for(alice), conversation, "What makes bread rise?", stream=True))
    assert events[-1][0] == "error" and "could not be shown" in events[-1][1]["detail"]
    assert Message.objects.filter(conversation_id=conversation, role=Message.Role.ASSISTANT).count() == 1  # saved
