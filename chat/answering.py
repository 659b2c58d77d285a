"""The answer pipeline, as small steps:

    condense (follow-up → standalone question) → hybrid retrieval → "not covered" check → prompt with numbered,
    fenced sources → generate (LLM chain, else the extractive answerer) → verify citations → save → events

``answer_stream`` yields server-sent-event payloads (``token``, ``restart``, ``citations``, ``done``, ``error``);
the API and the page stream them, and the non-streaming API collects them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from accounts.models import User
from chat.citations import VerifiedCitations, supporting_span, verify_citations
from chat.extractive import extractive_answer
from chat.llm import AllProvidersFailed, Finished, Restart, Token, complete, configured_providers, stream_chain
from chat.models import Citation, Conversation, Message
from chat.prompting import answer_messages, condense_messages, source_block
from chat.quotas import quota_check, usage_record
from chat.rendering import render_answer
from documents.models import DocumentVersion, page_of
from retrieval.selectors import SearchHit, search_chunks

logger = logging.getLogger(__name__)

NOT_COVERED = "The documents do not cover this."
EXTRACTIVE = "extractive"
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|him|there|such|same|also|more|else|why|how so)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``name`` and a JSON-serializable ``data``."""

    name: str
    data: dict[str, Any]


def question_accept(*, conversation: Conversation, user: User, content: str) -> Message:
    """Check the quotas, then store the user's question and count it. Raises TooManyRequestsError (429)."""
    quota_check(user=user, workspace=conversation.workspace)
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=content.strip())
        if not conversation.title:
            conversation.title = content.strip()[:80]
        conversation.save(update_fields=["title", "updated_at"])
    usage_record(user=user, workspace=conversation.workspace, questions=1)
    return message


def _history(conversation: Conversation, before: Message) -> list[tuple[str, str]]:
    earlier = conversation.messages.filter(id__lt=before.id).order_by("-id")[:6]
    return [(m.role, m.content) for m in reversed(earlier) if m.content]


def condense(*, question: str, history: list[tuple[str, str]], previous_query: str) -> str:
    """A standalone question for retrieval. With an LLM configured it rewrites the follow-up; otherwise (or
    if every provider fails) a follow-up, i.e. a short question or one with a pronoun, is appended to the
    previous standalone question. A first question is used as it is."""
    if not previous_query:
        return question
    if configured_providers():
        try:
            rewritten = complete(condense_messages(question=question, history=history), max_tokens=120).strip()
            if rewritten:
                return rewritten[:1000]
        except AllProvidersFailed:
            logger.info("condensing fell back to the deterministic method")
    if len(question.split()) <= 6 or _FOLLOW_UP.search(question):
        return f"{previous_query} {question}"
    return question


def is_covered(hits: list[SearchHit]) -> bool:
    """True if some hit's cosine similarity to the question reaches ``CHAT_MIN_RELEVANCE``."""
    return any(hit.vector is not None and hit.vector.score >= settings.CHAT_MIN_RELEVANCE for hit in hits)


def _pages(hit: SearchHit) -> str:
    start, end = hit.chunk.page_start, hit.chunk.page_end
    if not start:
        return ""
    return str(start) if end in (None, start) else f"{start}-{end}"


def _words(text: str) -> Iterator[str]:
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)


def answer_stream(*, conversation: Conversation, question: Message) -> Iterator[Event]:
    """Answer ``question`` (a stored user message) and store the assistant message; yields events.

    Never raises: an unexpected failure becomes an ``error`` event (and is logged).
    """
    try:
        yield from _answer(conversation, question)
    except Exception:
        logger.exception("answering message %s failed", question.pk)
        yield Event("error", {"detail": "Something went wrong while answering. Please try again.", "code": "error"})


def _answer(conversation: Conversation, question: Message) -> Iterator[Event]:
    started = time.perf_counter()
    workspace = conversation.workspace
    history = _history(conversation, question)
    previous = conversation.messages.filter(role=Message.Role.ASSISTANT, id__lt=question.id).order_by("-id").first()
    standalone = condense(
        question=question.content, history=history, previous_query=previous.standalone_query if previous else ""
    )
    document_ids = list(conversation.documents.values_list("pk", flat=True)) or None
    hits = search_chunks(
        workspace=workspace, query=standalone, k=settings.CHAT_SOURCES, mode="hybrid", document_ids=document_ids
    )
    reply = Message(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        standalone_query=standalone,
        retrieved=[
            {
                "marker": i,
                "chunk_id": h.chunk.pk,
                "document_id": h.chunk.document_id,
                "document_title": h.document.title,
                "score": h.score,
                "bm25": h.bm25 and vars(h.bm25),
                "vector": h.vector and vars(h.vector),
            }
            for i, h in enumerate(hits, start=1)
        ],
    )
    first_token: float | None = None
    parts: list[str] = []
    if not is_covered(hits):
        reply.not_covered, reply.provider = True, EXTRACTIVE
        first_token = time.perf_counter()
        parts.append(NOT_COVERED)
        yield Event("token", {"text": NOT_COVERED})
    else:
        sources = {i: h for i, h in enumerate(hits, start=1)}
        messages = answer_messages(
            question=question.content,
            history=history,
            sources=[source_block(i, h.document.title, _pages(h), h.chunk.text) for i, h in sources.items()],
        )
        try:
            for event in stream_chain(messages, max_tokens=settings.LLM_MAX_ANSWER_TOKENS):
                if isinstance(event, Token):
                    first_token = first_token or time.perf_counter()
                    parts.append(event.text)
                    yield Event("token", {"text": event.text})
                elif isinstance(event, Restart):
                    parts.clear()
                    yield Event("restart", {"provider": event.provider, "reason": event.error})
                elif isinstance(event, Finished):
                    reply.provider, reply.model = event.provider, event.model
                    reply.prompt_tokens, reply.completion_tokens = event.prompt_tokens, event.completion_tokens
                    reply.fallbacks, reply.fallback_used = event.fallbacks, bool(event.fallbacks)
        except AllProvidersFailed as exc:
            if parts:
                parts.clear()
                yield Event("restart", {"provider": EXTRACTIVE, "reason": "every provider failed"})
            reply.provider, reply.model = EXTRACTIVE, ""
            reply.fallbacks, reply.fallback_used = exc.fallbacks, bool(exc.fallbacks)
            text = extractive_answer(
                question.content if not previous else standalone,
                [(i, h.chunk.text) for i, h in sources.items()],
                workspace_id=workspace.pk,
                config=workspace.text_search_config,
                relevance={i: h.vector.score for i, h in sources.items() if h.vector},
            )
            for word in _words(text or NOT_COVERED):
                first_token = first_token or time.perf_counter()
                parts.append(word)
                yield Event("token", {"text": word})
        verified = verify_citations(
            "".join(parts),
            source_texts={i: h.chunk.text for i, h in sources.items()},
            config=workspace.text_search_config,
        )
        parts = [verified.answer]
        reply.citation_issues = verified.issues
    reply.content = "".join(parts).strip()
    now = time.perf_counter()
    reply.latency_ms = int((now - started) * 1000)
    reply.first_token_ms = int(((first_token or now) - started) * 1000)
    drafts = [] if reply.not_covered else _citation_drafts(hits, verified, config=workspace.text_search_config)
    citations = _save(reply, drafts)
    tokens = reply.prompt_tokens + reply.completion_tokens
    if tokens:
        usage_record(user=conversation.user, workspace=workspace, tokens=tokens)
    yield Event("citations", {"citations": [citation_payload(c) for c in citations]})
    yield Event("done", message_payload(reply, citations))


def _citation_drafts(hits: list[SearchHit], verified: VerifiedCitations, *, config: str) -> list[Citation]:
    """Unsaved citations for the verified markers. Each points at the chunk and, inside it, at the sentence
    that best supports the claims citing it; for a PDF, its pages are that sentence's pages."""
    versions = DocumentVersion.objects.filter(pk__in={hits[m - 1].chunk.version_id for m in verified.support})
    page_starts = dict(versions.values_list("pk", "page_starts"))
    citations = []
    for marker, score in sorted(verified.support.items()):
        hit = hits[marker - 1]
        chunk = hit.chunk
        start, end = supporting_span(verified.claims.get(marker, []), chunk.text, config=config)
        start, end = chunk.char_start + start, chunk.char_start + end
        pages = page_starts.get(chunk.version_id) or []
        citations.append(
            Citation(
                marker=marker,
                chunk=chunk,
                document_id=chunk.document_id,
                version_id=chunk.version_id,
                document_title=hit.document.title,
                page_start=page_of(pages, start) or chunk.page_start,
                page_end=page_of(pages, end - 1) or chunk.page_end,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                passage_start=start,
                passage_end=end,
                quote=chunk.text,
                support=score,
            )
        )
    return citations


@transaction.atomic
def _save(reply: Message, citations: list[Citation]) -> list[Citation]:
    reply.save()
    Conversation.objects.filter(pk=reply.conversation_id).update(updated_at=reply.created_at)
    for citation in citations:
        citation.message = reply
    return Citation.objects.bulk_create(citations)


def citation_payload(citation: Citation) -> dict[str, Any]:
    return {
        "id": citation.pk,
        "marker": citation.marker,
        "chunk_id": citation.chunk_id,
        "document_id": citation.document_id,
        "document_title": citation.document_title,
        "page_start": citation.page_start,
        "page_end": citation.page_end,
        "quote": citation.quote,
        "support": round(citation.support, 3),
    }


def message_payload(message: Message, citations: list[Citation]) -> dict[str, Any]:
    """The API shape of an assistant message (also the ``done`` event's data), with its sanitized HTML."""
    return {
        "id": message.pk,
        "answer": message.content,
        "html": render_answer(message.content, citations),
        "citations": [citation_payload(c) for c in citations],
        "provider": message.provider,
        "model": message.model,
        "fallback_used": message.fallback_used,
        "fallbacks": message.fallbacks,
        "not_covered": message.not_covered,
        "latency_ms": message.latency_ms,
        "first_token_ms": message.first_token_ms,
        "standalone_query": message.standalone_query,
        "citation_issues": message.citation_issues,
        "retrieved": message.retrieved,
    }
