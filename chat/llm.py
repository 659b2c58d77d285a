"""The LLM layer: an ordered chain of OpenAI-compatible providers (OpenRouter, OpenAI, Ollama, vLLM all speak
the chat completions API), each with a timeout, retries with exponential backoff and jitter on 429/5xx/
timeouts/broken responses (tenacity), and a circuit breaker shared by all processes through the cache
(Redis), so a dead provider is skipped quickly. Callers see one error type, ``LLMError``.

``stream_chain`` walks the chain: a provider that fails before its first token is retried, then skipped;
one that fails mid-stream yields a ``Restart`` (the UI clears the partial answer) and the next provider
starts over. When every provider failed it raises ``AllProvidersFailed`` carrying what happened, and the
caller answers with the offline extractive answerer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from config.metrics import llm_skipped

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

logger = logging.getLogger(__name__)


class LLMError(Exception):
    """A provider failed. ``retryable``: a timeout, 429, 5xx, a dropped connection or a malformed response."""

    def __init__(self, message: str, *, provider: str = "", retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retryable = retryable


class AllProvidersFailed(LLMError):
    """No provider produced an answer; ``fallbacks`` lists ``{"provider", "error"}`` in chain order."""

    def __init__(self, fallbacks: list[dict[str, str]]) -> None:
        super().__init__("No language model provider could answer.", retryable=False)
        self.fallbacks = fallbacks


@dataclass(frozen=True)
class Provider:
    """One OpenAI-compatible endpoint. ``timeout_s``: connect and between-token read timeout in seconds."""

    name: str
    base_url: str
    api_key: str
    model: str
    timeout_s: float = 30.0
    max_retries: int = 2


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Restart:
    """The provider named failed mid-answer; discard the partial text, the next provider starts over."""

    provider: str
    error: str


@dataclass(frozen=True)
class Finished:
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    fallbacks: list[dict[str, str]] = field(default_factory=list)


def configured_providers() -> list[Provider]:
    """The chain from settings (``LLM_PROVIDERS``, built in ``config/settings`` from the environment)."""
    items: list[dict[str, Any]] = settings.LLM_PROVIDERS  # validated in config/settings/chat.py
    return [Provider(**item) for item in items]


@functools.cache
def _client(provider: Provider) -> OpenAI:
    """One SDK client per provider and process (the SDK's own retries off: tenacity retries)."""
    import httpx2
    from openai import OpenAI

    timeout = httpx2.Timeout(provider.timeout_s, connect=min(provider.timeout_s, 10.0))
    return OpenAI(base_url=provider.base_url, api_key=provider.api_key or "none", timeout=timeout, max_retries=0)


@receiver(setting_changed)
def _reset(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("LLM_"):
        _client.cache_clear()


def _as_llm_error(exc: Exception, provider: Provider) -> LLMError:
    import openai

    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError(f"timed out after {provider.timeout_s:g} s", provider=provider.name, retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("could not connect", provider=provider.name, retryable=True)
    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        return LLMError(f"HTTP {code}", provider=provider.name, retryable=code == 429 or code >= 500)
    # malformed JSON, a cut stream, an unexpected payload: worth one more try, then the next provider
    return LLMError(f"bad response ({type(exc).__name__})", provider=provider.name, retryable=True)


# --- circuit breaker (shared by all processes through the cache) -----------------------------------


def _circuit_key(provider: Provider) -> str:
    """The provider's breaker state in the cache: keyed by a digest of its URL (which may carry credentials)."""
    digest = hashlib.sha256(f"{provider.name}\n{provider.base_url}".encode()).hexdigest()[:16]
    return f"llm:circuit:{digest}"


# The breaker's state lives in Redis. If Redis is unreachable the breaker stays closed (every provider is
# tried, with its own timeout and retries) rather than taking answering down with it.


def circuit_open(provider: Provider) -> bool:
    """True while the provider is cooling down after ``LLM_CIRCUIT_FAILURES`` consecutive failures."""
    try:
        return bool(cache.get(_circuit_key(provider) + ":open"))
    except Exception:  # Redis down: see above
        logger.warning("circuit breaker state unavailable (cache error); trying %s", provider.name)
        return False


def _record_failure(provider: Provider) -> None:
    key = _circuit_key(provider) + ":failures"
    try:
        cache.add(key, 0, timeout=settings.LLM_CIRCUIT_COOLDOWN_S * 4)
        try:
            failures = cache.incr(key)
        except ValueError:
            failures = 1
        if failures >= settings.LLM_CIRCUIT_FAILURES:
            cache.set(_circuit_key(provider) + ":open", True, timeout=settings.LLM_CIRCUIT_COOLDOWN_S)
            cache.delete(key)
            logger.warning("LLM provider %s: circuit opened for %s s", provider.name, settings.LLM_CIRCUIT_COOLDOWN_S)
    except Exception:
        logger.warning("could not record a failure of %s (cache error)", provider.name)


def _record_success(provider: Provider) -> None:
    try:
        cache.delete(_circuit_key(provider) + ":failures")
    except Exception:
        logger.warning("could not record a success of %s (cache error)", provider.name)


# --- one provider ------------------------------------------------------------------------------------


def _open_stream(
    provider: Provider, messages: list[dict[str, str]], max_tokens: int
) -> tuple[str, Iterator[ChatCompletionChunk], CompletionUsage | None]:
    """Start a streamed completion and read up to its first content token; returns (first text, the rest of
    the stream, the usage seen so far)."""
    stream = _client(provider).chat.completions.create(
        model=provider.model,
        messages=cast("list[ChatCompletionMessageParam]", messages),
        stream=True,
        max_tokens=max_tokens,
        temperature=0.1,
        stream_options={"include_usage": True},
    )
    iterator = iter(stream)
    usage = None
    for chunk in iterator:
        if getattr(chunk, "usage", None):
            usage = chunk.usage
        if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
            return chunk.choices[0].delta.content, iterator, usage
    raise LLMError("the stream ended without any text", provider=provider.name, retryable=True)


def stream_provider(
    provider: Provider, messages: list[dict[str, str]], *, max_tokens: int
) -> Iterator[Token | Finished]:
    """Stream one provider's answer: ``Token``s, then one ``Finished``.

    Failures before the first token are retried (``provider.max_retries`` times, exponential backoff with
    jitter, only for retryable errors). Raises LLMError; when tokens had already been yielded its message
    ends with "mid-answer" (the caller restarts with the next provider).
    """

    def start() -> tuple[str, Iterator[ChatCompletionChunk], CompletionUsage | None]:
        try:
            return _open_stream(provider, messages, max_tokens)
        except Exception as exc:  # every SDK/transport error becomes an LLMError
            raise _as_llm_error(exc, provider) from exc

    retrying = Retrying(
        stop=stop_after_attempt(provider.max_retries + 1),
        wait=wait_exponential_jitter(multiplier=settings.LLM_RETRY_INITIAL_S, max=settings.LLM_RETRY_MAX_S),
        retry=retry_if_exception(lambda exc: isinstance(exc, LLMError) and exc.retryable),
        reraise=True,
    )
    try:
        first, rest, usage = retrying(start)
    except RetryError as exc:  # pragma: no cover - reraise=True makes tenacity raise the last error itself
        raise _as_llm_error(exc, provider) from exc
    completion_chars = len(first)
    finished = False
    yield Token(first)
    try:
        for chunk in rest:
            if getattr(chunk, "usage", None):
                usage = chunk.usage
            if chunk.choices and chunk.choices[0].finish_reason:
                finished = True
            if chunk.choices and chunk.choices[0].delta and chunk.choices[0].delta.content:
                completion_chars += len(chunk.choices[0].delta.content)
                yield Token(chunk.choices[0].delta.content)
    except Exception as exc:
        error = _as_llm_error(exc, provider)
        raise LLMError(f"{error.message} mid-answer", provider=provider.name, retryable=True) from exc
    if not finished:  # the connection closed without a finish_reason: the answer is incomplete
        raise LLMError("the stream was cut mid-answer", provider=provider.name, retryable=True)
    prompt_chars = sum(len(m["content"]) for m in messages)
    yield Finished(
        provider=provider.name,
        model=provider.model,
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or prompt_chars // 4,
        completion_tokens=getattr(usage, "completion_tokens", 0) or completion_chars // 4,
    )


def stream_chain(
    messages: list[dict[str, str]], *, max_tokens: int, providers: list[Provider] | None = None
) -> Iterator[Token | Restart | Finished]:
    """Answer with the first provider of the chain that works: ``Token``s (with a ``Restart`` when a provider
    failed mid-answer), then one ``Finished`` whose ``fallbacks`` lists the providers skipped and why.

    Raises AllProvidersFailed (with those fallbacks) when none answered; an empty chain raises it at once.
    """
    fallbacks: list[dict[str, str]] = []
    for provider in configured_providers() if providers is None else providers:
        if circuit_open(provider):
            fallbacks.append({"provider": provider.name, "error": "circuit open (recent failures)"})
            llm_skipped(provider=provider.name, reason="circuit_open")
            continue
        started = False
        try:
            for event in stream_provider(provider, messages, max_tokens=max_tokens):
                if isinstance(event, Finished):
                    _record_success(provider)
                    yield Finished(event.provider, event.model, event.prompt_tokens, event.completion_tokens, fallbacks)
                    return
                started = True
                yield event
        except LLMError as exc:
            _record_failure(provider)
            llm_skipped(provider=provider.name, reason="error")
            logger.warning("LLM provider %s failed: %s; trying the next", provider.name, exc.message)
            fallbacks.append({"provider": provider.name, "error": exc.message})
            if started:
                yield Restart(provider.name, exc.message)
    raise AllProvidersFailed(fallbacks)


def complete(messages: list[dict[str, str]], *, max_tokens: int, providers: list[Provider] | None = None) -> str:
    """The whole text of the first provider that answers (used for short tasks such as condensing a
    follow-up). Raises AllProvidersFailed."""
    parts: list[str] = []
    for event in stream_chain(messages, max_tokens=max_tokens, providers=providers):
        if isinstance(event, Restart):
            parts.clear()
        elif isinstance(event, Token):
            parts.append(event.text)
    return "".join(parts)
