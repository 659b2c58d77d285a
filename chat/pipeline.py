"""The steps of answering one question, each a small function over one record (``AnswerDraft``):

    retrieve (condense a follow-up, hybrid search, coverage gate) → generate (the LLM chain, else the offline
    extractive answerer; yields ``token``/``restart`` events) → verify (citation markers) → persist (message,
    citations, usage)

``chat.services.message_answer`` runs them in that order and emits the closing events from the record. Each step
reads what the earlier ones wrote to the record and writes its own fields, so each can be tested alone.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction

from chat.citations import VerifiedCitations, supporting_span, verify_citations
from chat.extractive import extractive_answer
from chat.llm import AllProvidersFailed, Finished, Restart, Token, complete, configured_providers, stream_chain
from chat.models import Citation, Conversation, Message
from chat.prompting import HISTORY_MESSAGES, answer_messages, condense_messages, source_block
from chat.quotas import usage_record
from config.metrics import answer_observe
from documents.models import DocumentVersion, page_of
from retrieval.selectors import SearchHit, search_chunks

logger = logging.getLogger(__name__)

NOT_COVERED = "The documents do not cover this."
SCOPE_DELETED = (
    "The documents this conversation is limited to have all been deleted, so the documents do not cover this."
    " Start a new conversation to ask the whole workspace."
)
EXTRACTIVE = "extractive"
_FOLLOW_UP = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|his|her|him|there|such|same|also|more|else|why|how so)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Event:
    """One server-sent event: ``name`` (``token``, ``restart``, ``citations``, ``done``, ``error``) and a
    JSON-serializable ``data``."""

    name: str
    data: dict[str, Any]


@dataclass
class AnswerDraft:
    """Everything one answer accumulates on its way through the steps (times from ``time.perf_counter``, s)."""

    conversation: Conversation
    question: Message
    history: list[tuple[str, str]]  # earlier turns, oldest first: [(role, text)]
    previous_query: str  # the previous answer's standalone question ("" for a first question)
    started: float = field(default_factory=time.perf_counter)
    standalone: str = ""
    hits: list[SearchHit] = field(default_factory=list)  # the numbered sources: marker n is hits[n - 1]
    covered: bool = False
    scope_deleted: bool = False  # limited to chosen documents, all deleted since: nothing is searched
    parts: list[str] = field(default_factory=list)  # the answer text as streamed
    first_token: float | None = None
    provider: str = EXTRACTIVE
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks: list[dict[str, str]] = field(default_factory=list)
    verified: VerifiedCitations | None = None
    message: Message | None = None  # the stored assistant message, once persisted

    @property
    def sources(self) -> dict[int, SearchHit]:
        """``{marker: hit}``: the sources the model was given, numbered from 1."""
        return dict(enumerate(self.hits, start=1))

    def token(self, text: str) -> Event:
        """Record ``text`` as streamed (and the first token's time) and return its ``token`` event."""
        self.first_token = self.first_token or time.perf_counter()
        self.parts.append(text)
        return Event("token", {"text": text})


def answer_start(*, conversation: Conversation, question: Message) -> AnswerDraft:
    """The record for answering ``question`` (a stored user message): the conversation so far (at most
    ``HISTORY_MESSAGES`` earlier messages) and the previous answer's standalone question."""
    earlier = conversation.messages.filter(id__lt=question.id).order_by("-id")
    history = [(m.role, m.content) for m in reversed(earlier[:HISTORY_MESSAGES]) if m.content]
    previous = earlier.filter(role=Message.Role.ASSISTANT).first()
    return AnswerDraft(conversation, question, history, previous.standalone_query if previous else "")


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


def answer_retrieve(draft: AnswerDraft) -> None:
    """Condense the question, run hybrid search (``CHAT_SOURCES`` hits, within the conversation's documents if it
    is scoped to some) and decide whether the documents cover it. A conversation whose chosen documents were all
    deleted searches nothing (``scope_deleted``). Raises InvalidQuery for an unusable question."""
    draft.standalone = condense(
        question=draft.question.content, history=draft.history, previous_query=draft.previous_query
    )
    document_ids = list(draft.conversation.documents.values_list("pk", flat=True)) or None
    if draft.conversation.scoped and not document_ids:  # never widen silently to the whole workspace
        draft.scope_deleted = True
        return
    draft.hits = search_chunks(
        workspace=draft.conversation.workspace,
        query=draft.standalone,
        k=settings.CHAT_SOURCES,
        mode="hybrid",
        document_ids=document_ids,
    )
    draft.covered = is_covered(draft.hits)


def answer_generate(draft: AnswerDraft) -> Iterator[Event]:
    """Write the answer into ``draft.parts``, yielding ``token`` (and ``restart``) events: "not covered" when
    nothing relevant was found, else the LLM chain, else (every provider failed or none is configured) the
    extractive answerer."""
    if not draft.covered:
        yield draft.token(SCOPE_DELETED if draft.scope_deleted else NOT_COVERED)
        return
    try:
        yield from _generate_llm(draft)
    except AllProvidersFailed as exc:
        draft.fallbacks = exc.fallbacks
        if draft.parts:
            draft.parts.clear()
            yield Event("restart", {"provider": EXTRACTIVE, "reason": "every provider failed"})
        yield from _generate_extractive(draft)


def _generate_llm(draft: AnswerDraft) -> Iterator[Event]:
    """Stream the provider chain's answer. Raises AllProvidersFailed."""
    sources = [
        source_block(n, hit.document.title, hit.chunk.page_label, hit.chunk.text) for n, hit in draft.sources.items()
    ]
    messages = answer_messages(question=draft.question.content, history=draft.history, sources=sources)
    for event in stream_chain(messages, max_tokens=settings.LLM_MAX_ANSWER_TOKENS):
        if isinstance(event, Token):
            yield draft.token(event.text)
        elif isinstance(event, Restart):
            draft.parts.clear()
            yield Event("restart", {"provider": event.provider, "reason": event.error})
        elif isinstance(event, Finished):
            draft.provider, draft.model = event.provider, event.model
            draft.prompt_tokens, draft.completion_tokens = event.prompt_tokens, event.completion_tokens
            draft.fallbacks = event.fallbacks


def _generate_extractive(draft: AnswerDraft) -> Iterator[Event]:
    """The offline answer from the retrieved sentences, streamed word by word. A follow-up is answered for its
    standalone question (a first question as asked)."""
    draft.provider, draft.model = EXTRACTIVE, ""
    workspace = draft.conversation.workspace
    text = extractive_answer(
        draft.standalone if draft.previous_query else draft.question.content,
        [(n, hit.chunk.text) for n, hit in draft.sources.items()],
        workspace_id=workspace.pk,
        config=workspace.text_search_config,
        relevance={n: hit.vector.score for n, hit in draft.sources.items() if hit.vector},
        variant=workspace.embedding_variant,
    )
    for match in re.finditer(r"\S+\s*", text or NOT_COVERED):
        yield draft.token(match.group(0))


def answer_verify(draft: AnswerDraft) -> None:
    """Check every citation marker of the answer against its source (``chat.citations``); the answer keeps only
    the supported ones. Nothing to check when the documents did not cover the question."""
    if draft.covered:
        draft.verified = verify_citations(
            "".join(draft.parts),
            source_texts={n: hit.chunk.text for n, hit in draft.sources.items()},
            config=draft.conversation.workspace.text_search_config,
        )


def _retrieved(hits: list[SearchHit]) -> list[dict[str, Any]]:
    """What retrieval returned, for the message's record: ``[{marker, chunk_id, document_id, document_title,
    score, bm25: {rank, score} | None, vector: {rank, score} | None}]``."""
    return [
        {
            "marker": n,
            "chunk_id": hit.chunk.pk,
            "document_id": hit.chunk.document_id,
            "document_title": hit.document.title,
            "score": hit.score,
            "bm25": vars(hit.bm25) if hit.bm25 else None,
            "vector": vars(hit.vector) if hit.vector else None,
        }
        for n, hit in enumerate(hits, start=1)
    ]


def _message(draft: AnswerDraft) -> Message:
    """The unsaved assistant message (latency and first-token time in ms from the question's start)."""
    now = time.perf_counter()
    verified = draft.verified
    return Message(
        conversation=draft.conversation,
        role=Message.Role.ASSISTANT,
        content=(verified.answer if verified else "".join(draft.parts)).strip(),
        standalone_query=draft.standalone,
        retrieved=_retrieved(draft.hits),
        not_covered=not draft.covered,
        provider=draft.provider,
        model=draft.model,
        fallbacks=draft.fallbacks,
        fallback_used=bool(draft.fallbacks),
        citation_issues=verified.issues if verified else [],
        latency_ms=int((now - draft.started) * 1000),
        first_token_ms=int(((draft.first_token or now) - draft.started) * 1000),
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
    )


def citation_drafts(draft: AnswerDraft) -> list[Citation]:
    """Unsaved citations for the verified markers. Each points at the chunk and, inside it, at the sentence
    that best supports the claims citing it; for a PDF, its pages are that sentence's pages."""
    verified = draft.verified
    if verified is None:
        return []
    sources, config = draft.sources, draft.conversation.workspace.text_search_config
    versions = DocumentVersion.objects.filter(pk__in={sources[m].chunk.version_id for m in verified.support})
    page_starts = dict(versions.values_list("pk", "page_starts"))
    citations = []
    for marker, support in sorted(verified.support.items()):
        hit, chunk = sources[marker], sources[marker].chunk
        start, end = supporting_span(verified.claims.get(marker, []), chunk.text, config=config)
        start, end = chunk.char_start + start, chunk.char_start + end
        pages = page_starts.get(chunk.version_id) or []
        citations.append(
            Citation(
                marker=marker,
                chunk=chunk,
                document_id=chunk.document_id,
                version=chunk.version,  # selected with the hit (its kind names the pages), text deferred
                document_title=hit.document.title,
                page_start=page_of(pages, start) or chunk.page_start,
                page_end=page_of(pages, end - 1) or chunk.page_end,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                passage_start=start,
                passage_end=end,
                quote=chunk.text,
                support=support,
            )
        )
    return citations


def answer_persist(draft: AnswerDraft) -> Message:
    """Store the assistant message with its citations in one transaction, then count the LLM tokens against
    the quotas. Returns the saved message (also ``draft.message``)."""
    message, citations = _message(draft), citation_drafts(draft)
    with transaction.atomic():
        message.save()
        Conversation.objects.filter(pk=message.conversation_id).update(updated_at=message.created_at)
        for citation in citations:
            citation.message = message
        Citation.objects.bulk_create(citations)
    answer_observe(
        provider=message.provider,
        fallback=message.fallback_used,
        seconds=(message.latency_ms or 0) / 1000,
        first_token_seconds=(message.first_token_ms or 0) / 1000,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
    )
    tokens = message.prompt_tokens + message.completion_tokens
    if tokens:
        usage_record(user=draft.conversation.user, workspace=draft.conversation.workspace, tokens=tokens)
    draft.message = message
    return message
