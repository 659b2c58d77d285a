"""Every Groundwork metric, defined once (django-prometheus adds the HTTP and database series of its own).

prometheus_client runs in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by ``config.settings.metrics``
before this module is imported): each web, worker and pool process writes its samples to files, and
``/metrics`` (``config.monitoring``) adds them up. Labels are small fixed sets (stage, mode, provider name as
configured by the operator, error kind): never a workspace, document, user or any id.

The instrumented code calls the small functions below at the points where it already measures, so the metric
names and label sets live here only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# Seconds: from a millisecond BM25 lookup to a multi-minute ingestion stage.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

INGEST_STAGE_SECONDS = Histogram(
    "groundwork_ingest_stage_seconds",
    "Time a successful ingestion spent in each stage (extract, chunk, embed, store).",
    ["stage"],
    buckets=_BUCKETS,
)
INGEST_DOCUMENTS = Counter(
    "groundwork_ingest_documents_total", "Ingestion runs by outcome (ready, failed).", ["outcome"]
)
CHUNKS_EMBEDDED = Counter("groundwork_chunks_embedded_total", "Chunks embedded and stored by ingestion.")
SEARCH_SECONDS = Histogram(
    "groundwork_search_seconds",
    "Search latency by mode (bm25, vector, hybrid) and stage (bm25, vector, total).",
    ["mode", "stage"],
    buckets=_BUCKETS,
)
ANSWERS = Counter(
    "groundwork_answers_total",
    "Stored answers by provider (a configured LLM name, or extractive) and whether a fallback was used.",
    ["provider", "fallback"],
)
ANSWER_SECONDS = Histogram(
    "groundwork_answer_seconds", "Answer latency, question to last token, by provider.", ["provider"], buckets=_BUCKETS
)
ANSWER_FIRST_TOKEN_SECONDS = Histogram(
    "groundwork_answer_first_token_seconds",
    "Time from the question to the answer's first token, by provider.",
    ["provider"],
    buckets=_BUCKETS,
)
LLM_TOKENS = Counter(
    "groundwork_llm_tokens_total", "LLM tokens by provider and kind (prompt, completion).", ["provider", "kind"]
)
LLM_ERRORS = Counter("groundwork_llm_errors_total", "LLM provider failures (after retries), by provider.", ["provider"])
LLM_SKIPPED = Counter(
    "groundwork_llm_fallbacks_total",
    "Providers passed over for the next in the chain, by provider and reason (error, circuit_open).",
    ["provider", "reason"],
)
REJECTIONS = Counter(
    "groundwork_rejections_total",
    "429 responses (a quota or rate limit refused the request), by kind (the API error code, else rate_limited).",
    ["kind"],
)
MODEL_LOAD_SECONDS = Gauge(
    "groundwork_embedding_model_load_seconds",
    "Time the embedding model took to load, largest over the live processes.",
    multiprocess_mode="livemax",
)


def ingest_observe(*, timings: Mapping[str, float], chunks: int) -> None:
    """A document became ready: its stage durations (seconds by stage name) and its chunk count."""
    for stage, seconds in timings.items():
        INGEST_STAGE_SECONDS.labels(stage=stage).observe(seconds)
    CHUNKS_EMBEDDED.inc(chunks)
    INGEST_DOCUMENTS.labels(outcome="ready").inc()


def ingest_failed() -> None:
    """An ingestion ended failed."""
    INGEST_DOCUMENTS.labels(outcome="failed").inc()


def search_observe(*, mode: str, timings: Mapping[str, float]) -> None:
    """A search ran in ``mode``; ``timings`` are seconds by stage (``total`` included)."""
    for stage, seconds in timings.items():
        SEARCH_SECONDS.labels(mode=mode, stage=stage).observe(seconds)


def answer_observe(
    *,
    provider: str,
    fallback: bool,
    seconds: float,
    first_token_seconds: float,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """An answer was stored (``provider``: the configured provider name or ``extractive``)."""
    ANSWERS.labels(provider=provider, fallback=str(fallback).lower()).inc()
    ANSWER_SECONDS.labels(provider=provider).observe(seconds)
    ANSWER_FIRST_TOKEN_SECONDS.labels(provider=provider).observe(first_token_seconds)
    if prompt_tokens:
        LLM_TOKENS.labels(provider=provider, kind="prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(provider=provider, kind="completion").inc(completion_tokens)


def llm_skipped(*, provider: str, reason: str) -> None:
    """The chain passed over ``provider`` (``reason``: ``error`` also counts an error, or ``circuit_open``)."""
    if reason == "error":
        LLM_ERRORS.labels(provider=provider).inc()
    LLM_SKIPPED.labels(provider=provider, reason=reason).inc()


def rejection_count(*, kind: str) -> None:
    """A quota or rate limit refused a request (``kind``: the error's stable code)."""
    REJECTIONS.labels(kind=kind).inc()


UNCODED_REJECTION = "rate_limited"


class RejectionCountMiddleware:
    """Counts every 429 response once, where it is produced: a quota (``TooManyRequestsError``) or a DRF throttle
    by the ``code`` of the API error body (``quota_exceeded``, ``throttled``, ...), any other (allauth's rate
    limits on its pages) as ``rate_limited``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 429:
            data = getattr(response, "data", None)  # a DRF Response, shaped by config.api.exception_handler
            code = data.get("code") if isinstance(data, dict) else None
            rejection_count(kind=code if isinstance(code, str) and code else UNCODED_REJECTION)
        return response


def model_loaded(*, seconds: float) -> None:
    """This process loaded the embedding model in ``seconds``."""
    MODEL_LOAD_SECONDS.set(seconds)
